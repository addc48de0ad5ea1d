"""Atomic output files: written under a temporary name in the same folder and renamed into
place only when complete, so an interrupted run never leaves a partial file under the final
name, and an existing file is never replaced unless the user asked (--force)."""
from __future__ import annotations

import os
import tempfile
from typing import IO

import orjson

from .errors import OutputError


class AtomicFile:
    """`with AtomicFile(path, force=False) as f: f.write(b"...")` - binary, renamed on success."""

    def __init__(self, path: str, force: bool = False, mode: str = "wb"):
        self.path = path
        self.force = force
        self.mode = mode
        self._tmp: str | None = None
        self._fh: IO | None = None

    def __enter__(self):
        check_writable(self.path, self.force)
        folder = os.path.dirname(os.path.abspath(self.path))
        _remove_stale_partials(folder, os.path.basename(self.path))
        # The pid in the name lets a later run recognise (and remove) leftovers of a killed one.
        fd, self._tmp = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.{os.getpid()}.", suffix=".partial",
                                         dir=folder)
        self._fh = os.fdopen(fd, self.mode)
        return self._fh

    def __exit__(self, exc_type, exc, tb):
        assert self._fh is not None and self._tmp is not None
        try:
            if exc_type is None:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            self._fh.close()
            if exc_type is None:
                # mkstemp makes the file private (0600); a dataset gets the user's usual mode.
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(self._tmp, 0o666 & ~umask)
                os.replace(self._tmp, self.path)
                self._tmp = None
        finally:
            if self._tmp and os.path.exists(self._tmp):
                os.unlink(self._tmp)
        return False


def _remove_stale_partials(folder: str, base: str) -> None:
    """Delete temporary files a killed run (kill -9, power loss) left beside this output."""
    prefix = f".{base}."
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".partial")):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but not ours
    return True


def check_writable(path: str, force: bool) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"{path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a folder; give a file name such as {os.path.join(path, 'dataset.jsonl')}")
    if os.path.exists(path) and not force:
        raise OutputError(f"{path} already exists; use --force to replace it, or choose another -o")


class JsonlWriter:
    """Writes one JSON object per line through an AtomicFile."""

    def __init__(self, path: str, force: bool = False):
        self._atomic = AtomicFile(path, force=force)
        self._fh = None
        self.lines = 0

    def __enter__(self):
        self._fh = self._atomic.__enter__()
        return self

    def write(self, obj) -> None:
        self._fh.write(jsonl_line(obj))
        self.lines += 1

    def write_lines(self, lines: list[bytes]) -> None:
        """Lines already serialized, each ending in a newline."""
        self._fh.writelines(lines)
        self.lines += len(lines)

    def __exit__(self, *exc):
        return self._atomic.__exit__(*exc)


def jsonl_line(obj) -> bytes:
    """One JSONL line: the object as compact JSON and a newline."""
    return orjson.dumps(obj) + b"\n"
