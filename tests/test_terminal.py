"""A clean terminal: `larq-nobn convert` and `benchmark` print their report once and
nothing from TensorFlow's or the converters' logging unless asked for (`--verbose`,
`LARQ_NOBN_TF_LOGS=1`), no progress bar when the output is not a terminal, and the
help texts are whole.

The commands run in a subprocess with `TF_CPP_MIN_LOG_LEVEL` unset (as a user runs
them), on a BinaryNet at width 1/16.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# TensorFlow's native log lines (absl's format and LCE's TensorFlow's), tqdm's bar.
NOISE = re.compile(r"^[IWEF]\d{4} |^\d{4}-\d\d-\d\d [\d:.]+: [IWEF] |external/|benchmark:|"
                   r"WARNING:tensorflow")

SESSION = """
import os, sys
from larq_nobn import cli, zoo

zoo.BinaryNet(norm="abn", input_shape=(28, 28, 1), num_classes=10,
              width_multiplier=0.0625).save("tiny.keras")
for argv in COMMANDS:
    marker = f"=== {' '.join(argv)}\\n".encode()
    sys.stdout.flush(), sys.stderr.flush()
    os.write(1, marker), os.write(2, marker)
    code = cli.main(argv)
    sys.stdout.flush(), sys.stderr.flush()
    os.write(1, f"exit {code}\\n".encode())
"""
COMMANDS = [
    ["convert", "tiny.keras", "-o", "tiny.tflite", "--json", "report.json"],
    ["benchmark", "tiny.tflite", "--keras-model", "tiny.keras", "--runs", "2",
     "--warmup", "1"],
    ["convert", "tiny.keras", "-o", "again.tflite", "--verbose"],
]


def sections(text):
    """`{command: lines}` of the session's output, split at its markers."""
    parts = re.split(r"^=== (.*)\n", text, flags=re.M)
    return {command: body.splitlines() for command, body in zip(parts[1::2], parts[2::2])}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("terminal")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.pop("LARQ_NOBN_TF_LOGS", None)
    result = subprocess.run(
        [sys.executable, "-c", f"COMMANDS = {COMMANDS!r}\n" + SESSION],
        capture_output=True, text=True, cwd=folder, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stderr.startswith("=== "), result.stderr[:4000]  # nothing before
    out, err = sections(result.stdout), sections(result.stderr)
    return folder, [(out[" ".join(c)], err[" ".join(c)]) for c in COMMANDS]


def test_convert_prints_its_report_once_and_no_log_lines(session):
    folder, ((out, err), *_) = session
    size = (folder / "tiny.tflite").stat().st_size
    assert err == []
    assert out[0] == "LCE conversion report (target arm)"
    assert out[-3:] == [f"Wrote tiny.tflite ({size:,} bytes).",
                        "Wrote the report as JSON to report.json.", "exit 0"]
    assert len(out) == len(set(out)), [line for line in out if out.count(line) > 1]
    assert sum(line.startswith("LCE export:") for line in out) == 1
    assert not any(line.lower().startswith(("wrote", "converted model")) for line in
                   out[:-3])
    assert not any(NOISE.search(line) for line in out)


def test_benchmark_prints_the_table_only(session):
    _, (_, (out, err), _) = session
    assert err == []  # no converter lines, no progress bar: stderr is not a terminal
    assert out[0].startswith("Host latency (")
    assert [line.split("|")[1].strip() for line in out if line.startswith("| ")][1:] == [
        "lce", "float"]
    assert out[-1] == "exit 0"
    assert not any(NOISE.search(line) for line in out)


def test_verbose_shows_the_converter_lines(session):
    """The lines held back exist: `--verbose` shows them (on stderr)."""
    _, (*_, (out, err)) = session
    assert out[-1] == "exit 0"
    assert any("Reading SavedModel" in line for line in err), err
    assert any("external/" in line for line in err), err


NATIVE = [
    "I0000 00:00:1796573443.097143   12461 reader.cc:83] Reading SavedModel from: /tmp/x",
    "W0000 00:00:1796573443.096710   12461 tf_tfl_flatbuffer_helpers.cc:364] Ignored "
    "output_format.",
    "2026-12-06 16:10:21.495811: I external/org_tensorflow/tensorflow/cc/saved_model/"
    "reader.cc:83] Reading SavedModel from: /tmp/tmppaq41kc7",
    "2026-12-06 16:10:21.497520: W external/org_tensorflow/tensorflow/core/platform/"
    "cpu_feature_guard.cc:210] anything",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, "
    "rebuild TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796573493.942978   13964 util.cc:131] oneDNN supports DT_UINT8 only on "
    "platforms with AVX-512. Falling back to the default Eigen-based implementation if "
    "present.",
]
KEPT = [
    "E0000 00:00:1.0   1 op_kernel.cc:1] OP_REQUIRES failed",
    "2026-12-06 16:10:21.497520: E external/org_tensorflow/tensorflow/lite/x.cc:1] failed",
    "F0000 00:00:1.0   1 check.cc:1] Check failed: x",
    "W external is only a word here",
]


def test_converter_noise_is_info_and_warning_only():
    from larq_nobn._startup_logs import is_converter_noise

    assert all(is_converter_noise(line) for line in NATIVE)
    assert not any(is_converter_noise(line) for line in KEPT)


def test_quiet_converter_logs_keeps_errors_in_order():
    # The module alone (it needs only the standard library): no TensorFlow to import.
    code = (
        "import importlib.util, logging, os, sys\n"
        "spec = importlib.util.spec_from_file_location(\n"
        f"    'startup_logs', {str(ROOT / 'larq_nobn' / '_startup_logs.py')!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "logging.basicConfig(format='%(levelname)s:%(name)s:%(message)s')\n"
        "tf_logger = logging.getLogger('tensorflow')\n"
        f"lines = {NATIVE + KEPT!r}\n"
        "with module.quiet_converter_logs():\n"
        "    for line in lines:\n"
        "        os.write(2, (line + '\\n').encode())\n"
        "    tf_logger.warning('Compiled the loaded model')\n"
        "    tf_logger.error('a real one')\n"
        "    print('from python', file=sys.stderr)\n"
        "tf_logger.warning('after')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == KEPT + [
        "ERROR:tensorflow:a real one", "from python", "WARNING:tensorflow:after"]
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=dict(env, LARQ_NOBN_TF_LOGS="1"))
    assert shown.stderr.splitlines() == NATIVE + KEPT + [
        "WARNING:tensorflow:Compiled the loaded model", "ERROR:tensorflow:a real one",
        "from python", "WARNING:tensorflow:after"]
    # TF_CPP_MIN_LOG_LEVEL set by the user: TensorFlow's own filter decides which
    # native lines appear (here all: they are written directly); tf-keras' warnings
    # stay held back.
    leveled = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, env=dict(env, TF_CPP_MIN_LOG_LEVEL="2"))
    assert leveled.stderr.splitlines() == NATIVE + KEPT + [
        "ERROR:tensorflow:a real one", "from python", "WARNING:tensorflow:after"]


# --------------------------------------------------------------------------------------
# Help texts
# --------------------------------------------------------------------------------------
EXAMPLE_SCRIPTS = sorted((ROOT / "examples").glob("*.py"))


def _words(text):
    return " ".join(text.split())


@pytest.mark.parametrize("script", EXAMPLE_SCRIPTS, ids=lambda path: path.name)
def test_example_help_is_the_whole_docstring(script, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "10000")
    spec = importlib.util.spec_from_file_location(f"example_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines main(); `__name__` is not "__main__"
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    shown = _words(capsys.readouterr().out)
    paragraphs = [p for p in module.__doc__.split("\n\n") if p.strip()]
    assert len(paragraphs) >= 2
    for paragraph in paragraphs:  # every paragraph whole, the last one included
        assert _words(paragraph) in shown, paragraph


def test_every_subcommand_help_ends_with_whole_sentences(capsys, monkeypatch):
    from larq_nobn import cli

    monkeypatch.setenv("COLUMNS", "10000")  # argparse wraps at the terminal's width
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subparsers) == {module.__name__.rsplit(".", 1)[1].replace("_", "-")
                               for module in
                               cli.COMMANDS}
    for command, subparser in subparsers.items():
        assert cli.main([command, "--help"]) == 0
        shown = capsys.readouterr().out
        description = _words(subparser.description)
        assert description.endswith("."), (command, description)
        assert description in _words(shown), command
        assert shown.rstrip().splitlines()[-1].strip().startswith("larq-nobn "), command
        for action in subparser._actions:  # no option help cut after a comma or "and"
            assert not (action.help or "").rstrip().endswith((",", " and", " or", "(")), (
                command, action.help)
