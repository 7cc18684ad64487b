"""The atomic-write helper: the old file survives a failed write, no temporary file is left behind."""

from __future__ import annotations

import json

import pytest

from genpolicy._io import atomic_path, write_json


def test_write_json_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "summary.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2, "b": [1, 2]})
    assert json.loads(path.read_text()) == {"a": 2, "b": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "video.gif"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer died"):
        with atomic_path(path) as tmp:
            assert tmp.suffix == ".gif" and tmp.parent == path.parent  # writers that read the suffix still work
            tmp.write_bytes(b"half a fi")
            raise RuntimeError("writer died")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["video.gif"]
