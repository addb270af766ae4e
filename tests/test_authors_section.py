"""The side-by-side section of the authors' code (`benchmarks.authors.section`), without
torch: the run key and cache, the exported pixels, the comparison arithmetic on
made-up records, the skip note and the errors for unusable checkouts or interpreters."""

import json
import math
import sys

from benchmarks import __main__ as benchmarks_main
from benchmarks.authors import report as authors_report
from benchmarks.authors import section
from benchmarks.plan import TINY
from larq_nobn import data
from larq_nobn.training import TrainConfig

import numpy as np
import pytest

SETTINGS = dict(width_multiplier=0.25, epochs=3, batch_size=128, seed=0,
                learning_rate=1e-3, schedule="constant", adam_reset_each_epoch=False,
                weight_decay=0.0, agc_clip_factor=0.0, max_train_samples=None,
                max_test_samples=None, divider=4, image_size=32, threads=2,
                data="d.npz", checkout="abn", nobn_checkout="nobn", commit="abc")


def test_run_key_names_every_setting():
    key = section.run_key("binarynet_bn", SETTINGS)
    assert key.startswith("binarynet_bn-x0.25-e3-b128-s0-")
    assert section.run_key("binarynet_bn", dict(SETTINGS)) == key
    for name, value in (("learning_rate", 2e-3), ("commit", "abd"), ("threads", 1),
                        ("agc_clip_factor", 0.02), ("data", "e.npz")):
        assert section.run_key("binarynet_bn", {**SETTINGS, name: value}) != key, name
    assert section.run_key("binarynet_abn", SETTINGS) != key
    assert "train256-test128" in section.run_key(
        "binarynet_bn", {**SETTINGS, "max_train_samples": 256, "max_test_samples": 128})


def test_cached_run_is_read_back_without_a_process(tmp_path):
    path = tmp_path / f"{section.run_key('binarynet_bn', SETTINGS)}.json"
    path.write_text(json.dumps({"last": 0.5, "best": 0.6}))
    # an interpreter that does not exist: any attempt to train would fail
    record = section.train_cached("binarynet_bn", SETTINGS, tmp_path, tmp_path / "no-python")
    assert record == {"last": 0.5, "best": 0.6, "cached": True}
    with pytest.raises(section.AuthorsError, match="binarynet_abn-x0.25.*failed"):
        section.train_cached("binarynet_abn", SETTINGS, tmp_path, sys.executable)


def test_export_is_what_data_load_yields(tmp_path):
    path = section.export_data(tmp_path / "fm.npz", image_size=32, take=40)
    arrays = np.load(path)
    for split in ("train", "test"):
        expected = data.load("fashion_mnist", split, batch_size=16, training=False,
                             image_size=32).unbatch().take(40)
        images, labels = zip(*((x.numpy(), y.numpy()) for x, y in expected))
        assert arrays[f"x_{split}"].shape == (40, 32, 32, 1)
        assert arrays[f"x_{split}"].dtype == np.float32
        np.testing.assert_array_equal(arrays[f"x_{split}"], np.stack(images))
        np.testing.assert_array_equal(arrays[f"y_{split}"], np.stack(labels))
    stamp = path.stat().st_mtime_ns
    assert section.export_data(path, take=8) == path and path.stat().st_mtime_ns == stamp


def test_recipe_of_a_zoo_config():
    config = TrainConfig(model="reactnet18", norm="bf", width_multiplier=0.125, epochs=2,
                         seed=1, max_train_samples=256, augment=False).to_dict()
    settings = section.recipe(config)
    assert settings["agc_clip_factor"] == TrainConfig.from_dict(
        config).resolved_agc_clip_factor > 0
    assert (settings["width_multiplier"], settings["epochs"], settings["seed"],
            settings["max_train_samples"]) == (0.125, 2, 1, 256)
    assert section.divider(0.125) == 8
    with pytest.raises(section.AuthorsError, match="augment=False.*True"):
        section.recipe({**config, "augment": True})
    with pytest.raises(section.AuthorsError, match="width 0.3"):
        section.divider(0.3)


def test_comparison_arithmetic():
    # equal n and std: se = sqrt(2 * 0.02**2 / 3), df = 4, t(0.975, 4) = 2.776445
    result = section.compare([0.80, 0.82, 0.84], [0.77, 0.79, 0.81])
    assert result["zoo"]["mean"] == pytest.approx(0.82)
    assert result["authors"]["std"] == pytest.approx(0.02)
    interval = result["interval"]
    se = math.sqrt(2 * 0.02**2 / 3)
    assert interval["diff"] == pytest.approx(0.03)
    assert interval["df"] == pytest.approx(4)
    assert interval["low"] == pytest.approx(0.03 - 2.776445 * se, abs=1e-5)
    assert interval["high"] == pytest.approx(0.03 + 2.776445 * se, abs=1e-5)
    assert result["verdict"] == "within seed noise"
    assert section.compare([0.80, 0.82, 0.84], [0.70, 0.72, 0.74])["verdict"] == (
        "outside seed noise")
    assert section.compare([0.8], [0.7])["verdict"].startswith("inconclusive")


def made_up_zoo_runs(tmp_path, accuracies):
    runs = []
    for seed, accuracy in enumerate(accuracies):
        run_dir = tmp_path / f"zoo{seed}"
        run_dir.mkdir()
        config = TrainConfig(model="binarynet", norm="bn", width_multiplier=0.25,
                             epochs=2, seed=seed, augment=False)
        (run_dir / "config.json").write_text(config.to_json())
        runs.append({"model": "binarynet", "norm": "bn", "seed": seed, "epochs": 2,
                     "width_multiplier": 0.25, "test_accuracy": accuracy,
                     "run_dir": str(run_dir),
                     "curves": {"val_accuracy": [accuracy + 0.01, accuracy]}})
    return runs


def test_variant_table_from_cached_runs(tmp_path):
    zoo = made_up_zoo_runs(tmp_path, [0.80, 0.82, 0.84])
    paths = {"abn": tmp_path, "nobn": tmp_path, "data": lambda size: tmp_path / f"{size}.npz",
             "commits": {"abn": "a" * 40, "nobn": "b" * 40}}
    spec = section.VARIANTS["binarynet_bn"]
    for run, last in zip(zoo, [0.77, 0.79, 0.81]):
        settings = section.run_settings(spec, run["run_dir"], paths)
        assert (settings["divider"], settings["epochs"], settings["seed"],
                settings["image_size"], settings["data"]) == (
            4, 2, run["seed"], 32, str(tmp_path / "32.npz"))
        record = {"last": last, "best": last + 0.02, "epoch_seconds": [3.0, 5.0]}
        key = section.run_key("binarynet_bn", settings)
        (tmp_path / f"{key}.json").write_text(json.dumps(record))
    entry = section.run_variant("binarynet_bn", zoo, paths, tmp_path,
                                tmp_path / "no-python", 1)
    assert "error" not in entry and len(entry["seeds"]) == 3 and "reference" not in entry
    assert entry["last"]["interval"]["diff"] == pytest.approx(0.03)
    assert entry["best"]["zoo"]["mean"] == pytest.approx(0.83)
    assert entry["best"]["authors"]["mean"] == pytest.approx(0.81)
    # the reference mode's zoo column: 0.78, 0.80, 0.82 (best +0.005) against 0.77-0.81
    asked = []

    def reference(run):
        asked.append(run["seed"])
        last = run["test_accuracy"] - 0.02
        return {"test_accuracy": last, "best_test_accuracy": last + 0.005}

    with_reference = section.run_variant("binarynet_bn", zoo, paths, tmp_path,
                                         tmp_path / "no-python", 1, reference)
    assert asked == [0, 1, 2]
    assert with_reference["last"] == entry["last"]
    assert with_reference["reference"]["last"]["interval"]["diff"] == pytest.approx(0.01)
    assert with_reference["reference"]["best"]["zoo"]["mean"] == pytest.approx(0.805)
    assert with_reference["reference"]["last"]["verdict"] == "within seed noise"
    results = {"authors": {"setup": {"torch": "2", "threads": 2, "image_size": 32,
                                     "commits": paths["commits"]},
                           "variants": {"binarynet_bn": entry}}}
    text = "\n".join(authors_report.section(results))
    assert "| binarynet_bn (`models/vgg_cifar10_binary.py`) | 0.25 | 2 | 32* | n/a | last | " \
           "82.00 +- 2.00 (3) | 79.00 +- 2.00 (3) | 3.00 [" in text
    assert "**within seed noise**" in text and "| binarynet_bn | 2 |  |  | 84.00 | 85.00 | " \
           "81.00 | 83.00 | 4 | yes |" in text
    results["authors"]["variants"]["binarynet_bn"] = with_reference
    text = "\n".join(authors_report.section(results))
    assert "| binarynet_bn (`models/vgg_cifar10_binary.py`) | 0.25 | 2 | 32* | 0.0 | best | " \
           "80.50 +- 2.00 (3) | 81.00 +- 2.00 (3) | -0.50 [" in text
    assert "| binarynet_bn | 2 | 82.00 | 82.50 | 84.00 | 85.00 | 81.00 | 83.00 | 4 | yes |" in text


def test_vgg_first_layer_is_initialised_for_the_grey_channel(tmp_path):
    paths = {"abn": tmp_path, "nobn": tmp_path, "data": lambda size: tmp_path / "d.npz",
             "commits": {"abn": "a", "nobn": "b"}}
    config = TrainConfig(model="reactnet18", norm="bf", width_multiplier=0.125, epochs=2,
                         augment=False)
    (tmp_path / "config.json").write_text(config.to_json())
    for name, expected in (("binarynet_bn", 1), ("binarynet_abn", 1),
                           ("reactnet18_bf", None)):
        settings = section.run_settings(section.VARIANTS[name], tmp_path, paths)
        assert settings.get("init_channels") == expected, name
    # the setting names the run: runs drawn with fan-in 27 are not read back
    assert section.run_key("binarynet_bn", {**SETTINGS, "init_channels": 1}) != \
        section.run_key("binarynet_bn", SETTINGS)


def test_skipped_without_checkouts(tmp_path):
    result = section.run(TINY, tmp_path, [], None, None)
    lines = authors_report.section({"authors": result})
    assert lines[0] == authors_report.TITLE and len([line for line in lines if line]) == 2
    assert "--abn-checkout" in lines[2]


def test_unusable_checkout_or_interpreter(tmp_path, capsys):
    with pytest.raises(section.AuthorsError, match="missing.*is not a folder"):
        section.check_checkout(tmp_path / "missing", "abn")
    with pytest.raises(section.AuthorsError, match="lacks models/vgg_cifar10_binary.py"):
        section.check_checkout(tmp_path, "abn")
    with pytest.raises(section.AuthorsError, match="cannot import torch"):
        section.check_torch(sys.executable)  # the project's environment has no torch
    with pytest.raises(SystemExit) as exit_:
        benchmarks_main.parse(["authors", "--abn-checkout", str(tmp_path / "missing"),
                               "--nobn-checkout", str(tmp_path)])
    assert exit_.value.code == 2
    assert "missing' is not a folder" in capsys.readouterr().err.splitlines()[-1]
    with pytest.raises(SystemExit):
        benchmarks_main.parse(["--abn-checkout", str(tmp_path)])
    assert "go together" in capsys.readouterr().err
    for repo in ("abn", "nobn"):  # complete checkouts, as far as the check looks
        for name in [f"models/{v['file']}.py" for v in section.VARIANTS.values()
                     if v["repo"] == repo] + (["agc.py"] if repo == "nobn" else []):
            (tmp_path / repo / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / repo / name).write_text("")
    with pytest.raises(SystemExit) as exit_:
        benchmarks_main.parse(["authors", "--abn-checkout", str(tmp_path / "abn"),
                               "--nobn-checkout", str(tmp_path / "nobn"),
                               "--torch-python", sys.executable])
    assert exit_.value.code == 2
    assert "cannot import torch" in capsys.readouterr().err.splitlines()[-1]
    args = benchmarks_main.parse(["gradients", "--abn-checkout", str(tmp_path / "x"),
                                  "--nobn-checkout", str(tmp_path / "y")])
    assert args.sections == ["gradients"]  # not checked when the section does not run
    assert benchmarks_main.selected(["authors"]) == ["accuracy", "authors"]


def test_unreproducible_zoo_recipe_is_the_variant_error(tmp_path):
    zoo = made_up_zoo_runs(tmp_path, [0.80])
    config = json.loads((tmp_path / "zoo0" / "config.json").read_text())
    (tmp_path / "zoo0" / "config.json").write_text(json.dumps({**config, "augment": True}))
    paths = {"abn": tmp_path, "nobn": tmp_path, "data": lambda size: tmp_path / "d.npz",
             "commits": {"abn": "a", "nobn": "b"}}
    entry = section.run_variant("binarynet_bn", zoo, paths, tmp_path, tmp_path / "no", 1)
    assert entry["seeds"] == [] and "augment=False" in entry["error"]
    results = {"authors": {"setup": {"torch": "2", "threads": 2, "commits": paths["commits"]},
                           "variants": {"binarynet_bn": entry}}}
    assert f"| {entry['error']} |" in "\n".join(authors_report.section(results))
