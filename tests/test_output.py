"""Outputs are atomic: complete under the final name, or not there at all."""
import os
import subprocess
import sys

import pytest

from miner.errors import OutputError
from miner.output import AtomicFile


def test_file_appears_only_when_complete(tmp_path):
    out = tmp_path / "data.jsonl"
    with AtomicFile(str(out)) as f:
        f.write(b"line\n")
        assert not out.exists()
    assert out.read_bytes() == b"line\n"


def test_error_leaves_nothing_behind(tmp_path):
    out = tmp_path / "data.jsonl"
    with pytest.raises(RuntimeError):
        with AtomicFile(str(out)) as f:
            f.write(b"half")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_existing_file_needs_force(tmp_path):
    out = tmp_path / "data.jsonl"
    out.write_text("keep me")
    with pytest.raises(OutputError):
        with AtomicFile(str(out)):
            pass
    assert out.read_text() == "keep me"


def test_output_gets_the_users_usual_mode(tmp_path):
    out = tmp_path / "data.jsonl"
    with AtomicFile(str(out)) as f:
        f.write(b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_leftovers_of_a_killed_run_are_cleaned_up(tmp_path):
    out = tmp_path / "data.jsonl"
    code = ("import os, sys; from miner.output import AtomicFile\n"
            "a = AtomicFile(sys.argv[1]); f = a.__enter__(); f.write(b'x'); f.flush(); os._exit(9)")
    subprocess.run([sys.executable, "-c", code, str(out)])
    left = [n for n in os.listdir(tmp_path) if n.endswith(".partial")]
    assert left and not out.exists()
    with AtomicFile(str(out)) as f:
        f.write(b"done")
    assert sorted(os.listdir(tmp_path)) == ["data.jsonl"]
