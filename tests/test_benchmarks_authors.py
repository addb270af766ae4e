"""The report's cost comparisons without torch: `timing.alternating` with fake worker
processes (the order of the steps and the statistic on a hand-made clock), the one-line
errors of the `authors_cost` section, and the plain larq BinaryNet of section 4
computing the zoo's BinaryNet (bn) layer for layer."""

import json
import sys
from pathlib import Path

from benchmarks import __main__ as benchmarks_main
from benchmarks import models, timing
from benchmarks.authors import checks
from benchmarks.authors import cost as authors_cost
from benchmarks.plan import FULL

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: A worker that logs each step to a shared file and advances a clock of its own by
#: the step costs its spec lists (so the timings are exact).
FAKE_WORKER = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from benchmarks import timing
side, log = sys.argv[1], sys.argv[2]
clock = [0.0]

def make_step(spec):
    if spec.get("fail"):
        raise ValueError("no such model")
    if spec.get("exit"):
        sys.stderr.write("first line\\nlast words\\n")
        sys.exit(spec["exit"])
    costs = iter(spec["costs"])

    def step():
        with open(log, "a") as f:
            f.write(side + "\\n")
        clock[0] += next(costs)
    return step

timing.serve(make_step, clock=lambda: clock[0])
"""


@pytest.fixture
def fake_workers(tmp_path):
    script, log = tmp_path / "worker.py", tmp_path / "steps.log"
    script.write_text(FAKE_WORKER)
    workers = [timing.Worker([sys.executable, str(script), side, str(log)], side)
               for side in ("torch", "zoo")]
    yield workers, log
    for worker in workers:
        worker.close()


def test_alternating_takes_turns_and_summarizes(fake_workers):
    (torch, zoo), log = fake_workers
    # 1 warm-up step, then 3 rounds of 2 steps: torch 2, 2, 4 s; zoo 1, 2, 1 s a step
    torch.build("m", {"costs": [100.0, 1.0, 3.0, 2.0, 2.0, 4.0, 4.0]})
    zoo.build("m", {"costs": [50.0, 1.0, 1.0, 3.0, 1.0, 1.0, 1.0]})
    times = timing.alternating({"authors": (torch, "m"), "zoo": (zoo, "m")}, rounds=3,
                               repeats=2, warmup=1, baseline="authors")
    assert log.read_text().split() == ["torch", "zoo"] + ["torch"] * 2 + ["zoo"] * 2 + \
        ["torch"] * 2 + ["zoo"] * 2 + ["torch"] * 2 + ["zoo"] * 2
    assert times["authors"]["rounds_s"] == [2.0, 2.0, 4.0]
    assert times["zoo"]["rounds_s"] == [1.0, 2.0, 1.0]
    assert times["authors"]["fastest_s"] == 2.0 and times["zoo"]["fastest_s"] == 1.0
    # per-round ratios 0.5, 1, 0.25: the median 0.5
    assert times["zoo"]["ratio"] == 0.5 and times["authors"]["ratio"] == 1.0


def test_worker_errors_name_the_worker(fake_workers):
    (torch, _), _ = fake_workers
    with pytest.raises(RuntimeError, match="torch worker failed on 'm': ValueError: no "
                       "such model"):
        torch.build("m", {"fail": True})
    with pytest.raises(RuntimeError, match="KeyError"):  # never built
        torch.runner("other")(1)
    with pytest.raises(RuntimeError, match=r"^the torch worker exited \(code 3\): last "
                       "words$"):
        torch.build("m", {"exit": 3})
    with pytest.raises(RuntimeError, match=r"exited \(code 3\)"):  # and stays dead
        torch.build("m", {"costs": [1.0]})


def test_authors_section_checks_its_paths(tmp_path, capsys):
    abn, nobn = tmp_path / "abn", tmp_path / "nobn"
    for folder, repo in ((abn, "abn"), (nobn, "nobn")):
        (folder / "models").mkdir(parents=True)
        for model in {pair[3][1] for pair in authors_cost.PAIRS.values()
                      if pair[3][0] == repo}:
            (folder / "models" / f"{model}.py").write_text("")
    (nobn / "agc.py").write_text("")
    with pytest.raises(ValueError, match=f"--nobn-checkout '{tmp_path}' is not a "
                       "VITA-Group/BNN_NoBN checkout: it lacks models/Qaw_reactnet_18_bf.py, "
                       "models/Qaw_reactnet_18_bn.py, agc.py"):
        authors_cost.check_checkouts(abn, tmp_path, sys.executable)
    # this interpreter has no torch (the test suite runs without it)
    with pytest.raises(SystemExit) as exit_info:
        benchmarks_main.parse(["authors_cost", "--abn-checkout", str(abn),
                               "--nobn-checkout", str(nobn), "--torch-python",
                               sys.executable])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"--torch-python {sys.executable}: cannot import torch (" in error
    assert "No module named 'torch'" in error
    with pytest.raises(ValueError, match="--torch-python /no/python: cannot run it"):
        authors_cost.check_checkouts(abn, nobn, "/no/python")


def test_authors_section_only_with_checkouts():
    assert "authors_cost" not in benchmarks_main.selected([])
    assert benchmarks_main.selected([], with_authors=True)[-1] == "authors_cost"
    assert benchmarks_main.selected(["authors_cost"]) == ["authors_cost"]


def test_authors_specs_match_widths():
    assert checks.divider(0.25) == 4 and checks.divider(1) == 1
    with pytest.raises(ValueError, match="width 0.3 is not 1 / n"):
        checks.divider(0.3)
    zoo, authors = authors_cost.specs(FULL, "reactnet18_bf", "/a", "/n")
    assert zoo["width"] * authors["divider"] == 1
    assert zoo["agc"] == authors["agc"] > 0 and authors["root"] == "/n"
    zoo, authors = authors_cost.specs(FULL, "binarynet_abn", "/a", "/n")
    assert zoo["agc"] is authors["agc"] is None and authors["root"] == "/a"
    assert (zoo["batch"], zoo["size"]) == (authors["batch"], authors["size"])


def test_authors_section_markdown():
    result = {"setup": {"batch_size": 128, "image": [32, 32, 3], "rounds": 5,
                        "steps_per_round": 3, "threads": 2},
              "resnet18_abn": {"width": 0.25, "zoo_s": 0.1, "authors_s": 0.4,
                               "ratio": 0.26, "rounds_s": {}}}
    lines = authors_cost.markdown({"authors_cost": result})
    assert "| ResNet-18 (ABN paper) | abn | 0.25 | 100.0 | 400.0 | 0.26 |" in lines
    assert "batch 128 of 32x32x3" in " ".join(lines)


def test_plain_larq_binarynet_is_the_zoo_layout():
    """The zoo's weights copied over in order (its 1x1 dense kernels reshaped) give the
    same outputs in inference and training mode."""
    import tensorflow as tf

    zoo = models.build("binarynet", 0.0625, "bn", input_shape=(16, 16, 3))
    plain = models.plain_larq_binarynet(0.0625, (16, 16, 3))
    assert [int(np.prod(w.shape)) for w in plain.weights] == \
        [int(np.prod(w.shape)) for w in zoo.weights]
    assert plain.count_params() == zoo.count_params()
    rng = np.random.default_rng(0)
    for source, target in zip(zoo.weights, plain.weights):
        value = source.numpy()
        if "moving_variance" in source.name:
            value = rng.uniform(0.5, 1.5, value.shape)
        target.assign(np.reshape(value, target.shape))
        source.assign(np.reshape(value, source.shape))
    x = tf.constant(rng.normal(size=(4, 16, 16, 3)), tf.float32)
    for training in (False, True):
        np.testing.assert_allclose(plain(x, training=training), zoo(x, training=training),
                                   rtol=1e-5, atol=1e-5)
    config = json.dumps(plain.get_config(), default=str)
    assert '"kernel_constraint": null' in config and '"clip_value": null' in config


def test_worker_that_does_not_exit_is_killed():
    worker = timing.Worker([sys.executable, "-c", "import time; time.sleep(120)"], "stuck")
    worker.close(timeout=0.5)
    assert worker.process.returncode < 0  # ended by a signal
