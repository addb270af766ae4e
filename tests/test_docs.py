"""The documentation runs as written: every ```python block of README.md and of the
deploy guide is executed, and every `larq-nobn ...` line of their ```bash blocks parses.

Each Markdown file runs in its own fresh interpreter (import order matters: `larq_nobn`
must come before TensorFlow), its blocks in sequence in one namespace, in a folder
holding `runs/default/model.keras` (the architecture of `make run`'s model, untrained)
and `model_best.npz` (reference weights, a golden fixture),
with `TF_CPP_MIN_LOG_LEVEL` unset and nothing on stderr.
Each block must also stand alone (copied on its own into a fresh interpreter): ruff
finds no undefined name in it, and it imports `larq_nobn` before TensorFlow, larq or
LCE. A block that cannot run here is preceded by `<!-- norun: the reason -->`.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "examples/deploy/README.md")
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
NORUN = re.compile(r"^<!--\s*norun\b:?(.*?)-->$")
#: Modules that load TensorFlow with Keras 3 unless `larq_nobn` was imported first.
NEEDS_LARQ_NOBN_FIRST = ("tensorflow", "tf_keras", "keras", "larq", "larq_compute_engine")


@dataclasses.dataclass
class Block:
    language: str
    code: str
    line: int  # of the first code line, 1-based
    norun: str | None  # the reason after `<!-- norun: ... -->`, `None` without marker


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text (indented ones dedented)."""
    lines = text.splitlines()
    found, index = [], 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        indent, language = match.groups()
        end = index + 1
        while lines[end].strip() != "```" or not lines[end].startswith(indent):
            end += 1
        previous = next((line.strip() for line in reversed(lines[:index]) if line.strip()),
                        "")
        marker = NORUN.match(previous)
        code = textwrap.dedent("\n".join(lines[index + 1:end]))
        found.append(Block(language, code, index + 2,
                           marker.group(1).strip() if marker else None))
        index = end + 1
    return found


def python_blocks(doc: str) -> list[Block]:
    return [b for b in blocks((ROOT / doc).read_text()) if b.language == "python"]


def test_block_extraction_sees_fences_markers_and_indented_blocks():
    text = (
        "Intro\n```python\nx = 1\n```\n"
        "<!-- norun: needs a Raspberry Pi -->\n\n```python\ny = 2\n```\n"
        "1. A step:\n\n   ```bash\n   larq-nobn recipes\n   ```\n"
        "<!-- norun -->\n```python\nz = 3\n```\n"
    )
    assert [(b.language, b.code, b.line, b.norun) for b in blocks(text)] == [
        ("python", "x = 1", 3, None),
        ("python", "y = 2", 8, "needs a Raspberry Pi"),
        ("bash", "larq-nobn recipes", 13, None),
        ("python", "z = 3", 17, ""),
    ]


@pytest.mark.parametrize("doc", DOCS)
def test_every_skipped_block_says_why(doc):
    """Nothing is skipped silently: a not-run block carries its reason, and the file
    keeps blocks that do run."""
    found = python_blocks(doc)
    assert all(block.norun != "" for block in found), doc
    assert any(block.norun is None for block in found), doc


def _imports(code: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("doc", DOCS)
def test_every_block_stands_alone(doc, tmp_path):
    """A block copied on its own into a fresh interpreter: every name it uses is
    defined in it, and `larq_nobn` comes before anything that imports TensorFlow."""
    for block in python_blocks(doc):
        imports = _imports(block.code)
        heavy = [i for i, name in enumerate(imports) if name in NEEDS_LARQ_NOBN_FIRST]
        if heavy:
            assert "larq_nobn" in imports[:heavy[0]], (doc, block.line, imports)
        path = tmp_path / f"block_{block.line}.py"
        path.write_text(block.code + "\n")
        lint = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F821",
             "--output-format", "concise", str(path)],
            capture_output=True, text=True,
        )
        assert lint.returncode == 0, f"{doc} line {block.line}:\n{lint.stdout}"


def test_stand_alone_check_catches_an_undefined_name(tmp_path):
    """The lint above on a snippet with the README's former bug."""
    path = tmp_path / "bad.py"
    path.write_text("from larq_nobn import zoo\nx = zoo.preprocess_input(uint8_images)\n")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F821",
         str(path)], capture_output=True, text=True,
    )
    assert result.returncode == 1 and "uint8_images" in result.stdout


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with `runs/default/model.keras`: the default `larq-nobn train` model's
    architecture (BinaryNet x0.25, bn, 28x28x1, 10 classes), and `model_best.npz`: the
    weights of gushan/ABN's vgg_cifar10_binary at width / 16 (a golden fixture)."""
    from larq_nobn import training

    folder = tmp_path_factory.mktemp("docs")
    (folder / "runs" / "default").mkdir(parents=True)
    model = training.build_model(training.TrainConfig(), (28, 28, 1), 10)
    model.save(folder / "runs" / "default" / "model.keras")
    shutil.copy(ROOT / "tests" / "reference" / "fixtures" / "binarynet_bn.npz",
                folder / "model_best.npz")
    return folder


RUNNER = """
import sys
namespace = {"__name__": "__main__"}
for line, code in BLOCKS:
    print(f"[block at line {line}]", flush=True)
    exec(compile("\\n" * (line - 1) + code, DOC, "exec"), namespace)
"""


@pytest.mark.parametrize("doc", DOCS)
def test_python_blocks_run_as_written(doc, workdir):
    runnable = [(b.line, b.code) for b in python_blocks(doc) if b.norun is None]
    script = f"BLOCKS = {runnable!r}\nDOC = {doc!r}\n" + RUNNER
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_USE_LEGACY_KERAS", "TF_CPP_MIN_LOG_LEVEL")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                            text=True, cwd=workdir, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    ran = re.findall(r"^\[block at line (\d+)\]$", result.stdout, re.M)
    assert [int(line) for line in ran] == [line for line, _ in runnable]
    assert result.stderr == "", result.stderr[-4000:]  # no TensorFlow log lines either


def cli_lines(doc: str) -> list[tuple[int, list[str]]]:
    """The `larq-nobn ...` commands of a file's ```bash blocks (continuations joined,
    comments dropped), as argument lists without the program name."""
    commands = []
    for block in blocks((ROOT / doc).read_text()):
        if block.language != "bash":
            continue
        for offset, line in enumerate(block.code.replace("\\\n", " ").splitlines()):
            words = shlex.split(line, comments=True)
            if words[:1] == ["larq-nobn"]:
                commands.append((block.line + offset, words[1:]))
    return commands


@pytest.mark.parametrize("doc", DOCS)
def test_command_lines_in_docs_parse(doc):
    """Every option and value the docs give `larq-nobn` exists (parsed, not run)."""
    from larq_nobn import cli

    parser = cli.build_parser()
    commands = cli_lines(doc)
    assert commands, doc
    for line, argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit as exit_:
            pytest.fail(f"{doc} line {line}: `larq-nobn {' '.join(argv)}` exits {exit_}")
