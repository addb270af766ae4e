"""Atomic file output (`larq_nobn.files`)."""

import json
import os
import stat

from larq_nobn import files

import numpy as np
import pytest


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_write_atomic_bytes_text_and_writer(tmp_path, umask_022):
    files.write_atomic(tmp_path / "a.bin", b"\x00\x01")
    files.write_atomic(tmp_path / "b.txt", "héllo\n")
    files.write_atomic(tmp_path / "c.csv", lambda stream: stream.write("x,y\r\n1,2\r\n"))
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "c.csv").read_bytes() == b"x,y\r\n1,2\r\n"  # newline="" kept
    for name in ("a.bin", "b.txt", "c.csv"):
        assert _mode(tmp_path / name) == 0o644  # 0o666 & ~0o022, not mkstemp's 0o600
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "b.txt", "c.csv"]


def test_umask_is_honoured(tmp_path):
    old = os.umask(0o077)
    try:
        files.write_atomic(tmp_path / "private", b"x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "private") == 0o600


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "keep.json"
    files.write_json(path, {"a": 1})

    def explode(stream):
        stream.write("partial")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        files.write_atomic(path, explode)
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["keep.json"]


def test_write_json_numpy_values(tmp_path):
    path = files.write_json(
        tmp_path / "m.json", {"i": np.int64(3), "f": np.float32(0.5), "a": np.arange(2)}
    )
    assert json.loads(open(path).read()) == {"i": 3, "f": 0.5, "a": [0, 1]}
    with pytest.raises(TypeError, match="object"):
        files.write_json(tmp_path / "bad.json", {"x": object()})
    assert not (tmp_path / "bad.json").exists()


def test_copy_atomic_and_atomic_path(tmp_path, umask_022):
    source = tmp_path / "src"
    source.write_bytes(b"payload")
    files.copy_atomic(source, tmp_path / "dst")
    assert (tmp_path / "dst").read_bytes() == b"payload"
    with files.atomic_path(tmp_path / "model.keras", ".tmp.keras") as temporary:
        assert temporary.endswith(".tmp.keras")
        assert os.path.dirname(temporary) == str(tmp_path)
        with open(temporary, "wb") as stream:
            stream.write(b"zip")
    assert (tmp_path / "model.keras").read_bytes() == b"zip"
    assert _mode(tmp_path / "model.keras") == 0o644
