"""Turn the paths a user gives into readable entries: files, folders walked recursively, and
ZIP archives (also ZIPs inside ZIPs, as Notion exports are) read in place.

Nothing is ever extracted to disk under a member's own name, so a hostile archive cannot write
outside anywhere (`../`, absolute paths and symlinks in member names are only labels here).
Members are streamed through a guard that stops zip bombs by total size and by compression
ratio.
"""
from __future__ import annotations

import io
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Callable

from .errors import InputError

# Limits for archives (per top-level input). Generous for real exports (ChatGPT exports with
# media run to several GB), tight enough that a zip bomb stops early.
MAX_MEMBER_BYTES = 8 * 1024**3
MAX_TOTAL_BYTES = 32 * 1024**3
MAX_RATIO = 200  # uncompressed / compressed, above which a large member is refused
RATIO_MIN_BYTES = 64 * 1024**2  # small members may compress well (minified JSON does ~10x)
MAX_ZIP_DEPTH = 3
SKIP_DIRS = {".git", ".obsidian", ".trash", "__MACOSX", ".Trash", "node_modules"}
# What a damaged archive member raises while it is opened or read (a flipped byte in a
# download): reported as an InputError naming the member, like any other unreadable file.
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)


@dataclass
class Entry:
    """One readable file: on disk, or a member of a (possibly nested) ZIP."""

    name: str  # what the user sees: "export.zip!conversations.json"
    size: int
    opener: Callable[[], IO[bytes]]
    path: str = ""  # the real file on disk for plain files ("" for archive members)
    root: str = ""  # the input argument this entry was found under

    def open(self) -> IO[bytes]:
        return self.opener()

    @property
    def suffix(self) -> str:
        base = self.name.rsplit("!", 1)[-1]
        base = base.rsplit("/", 1)[-1]
        return os.path.splitext(base)[1].lower()

    @property
    def basename(self) -> str:
        return self.name.rsplit("!", 1)[-1].rsplit("/", 1)[-1]

    def head(self, n: int = 65536) -> bytes:
        with self.open() as f:
            return f.read(n)


class _Guarded(io.RawIOBase):
    """A read-only stream that refuses to deliver more than `limit` bytes."""

    def __init__(self, raw: IO[bytes], limit: int, where: str):
        self.raw = raw
        self.limit = limit
        self.where = where
        self.seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        try:
            data = self.raw.read(len(b))
        except DAMAGED as e:
            raise InputError(self.where, f"archive member is damaged ({e})", "download the archive again") from None
        self.seen += len(data)
        if self.seen > self.limit:
            raise InputError(self.where, "archive member expands far beyond its stated size (zip bomb?)",
                             "refusing to read it")
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self.raw.close()
        finally:
            super().close()


def iter_entries(paths: list[str], on_skip: Callable[[str, str], None] | None = None) -> Iterator[Entry]:
    """Every file under `paths` (files, folders, ZIPs), in a stable order.

    Archives that are not document containers (DOCX, EPUB, ...) are opened and walked;
    problems with one input are reported through `on_skip(where, reason)` and the rest go on.
    A path that does not exist raises InputError (a typo should stop the run at once).
    """
    for p in paths:
        if not os.path.exists(p):
            raise InputError(p, "no such file or folder", "check the path")
    for p in paths:
        if os.path.isdir(p):
            yield from _walk_dir(p, on_skip)
        else:
            yield from _file_entries(p, p, on_skip)


def _walk_dir(top: str, on_skip) -> Iterator[Entry]:
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for fn in sorted(filenames):
            if fn.startswith(".") or fn.startswith("~$"):
                continue  # hidden files, Word lock files
            full = os.path.join(dirpath, fn)
            try:
                st = os.lstat(full)
            except OSError as e:
                _skip(on_skip, full, f"cannot read: {e.strerror}")
                continue
            if stat.S_ISLNK(st.st_mode):
                _skip(on_skip, full, "symbolic link not followed")
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            yield from _file_entries(full, top, on_skip)


def _file_entries(path: str, root: str, on_skip) -> Iterator[Entry]:
    size = os.path.getsize(path)
    entry = Entry(name=path, size=size, opener=lambda p=path: open(p, "rb"), path=path, root=root)
    if is_plain_zip(entry):
        yield from _zip_entries(path, lambda p=path: open(p, "rb"), path, root, 1, on_skip)
    else:
        yield entry


def is_plain_zip(entry: Entry) -> bool:
    """A ZIP archive to walk, as opposed to a DOCX/EPUB/ODT, which are ZIPs read as documents."""
    try:
        head = entry.head(4)
    except OSError:
        return False
    if head[:2] != b"PK":
        return False
    if entry.suffix in (".docx", ".epub", ".odt", ".docm", ".dotx", ".pages", ".xlsx", ".pptx"):
        return False
    try:
        with entry.open() as f, zipfile.ZipFile(f) as zf:
            names = set(zf.namelist()[:50])
    except (*DAMAGED, OSError, ValueError):
        return entry.suffix == ".zip"  # a broken .zip: walk it so the error is reported
    return not ({"word/document.xml", "mimetype", "[Content_Types].xml"} & names)


def _zip_entries(label: str, opener, root_name: str, root: str, depth: int, on_skip) -> Iterator[Entry]:
    try:
        fh = opener()
    except OSError as e:
        _skip(on_skip, label, f"cannot open: {e}")
        return
    except InputError as e:  # a nested archive that is itself damaged
        _skip(on_skip, label, e.reason, e.hint)
        return
    try:
        try:
            zf = zipfile.ZipFile(fh)
        except (*DAMAGED, ValueError) as e:
            _skip(on_skip, label, f"not a readable ZIP archive ({e}); re-download it")
            return
        with zf:
            total = 0
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if not info.filename or info.is_dir():  # a damaged directory can hold a nameless entry
                    continue
                name = info.filename
                where = f"{label}!{_printable(name)}"
                parts = [x for x in name.replace("\\", "/").split("/") if x]
                base = parts[-1] if parts else name
                if ".." in parts:
                    _skip(on_skip, where, "member name points outside the archive (../); not read")
                    continue
                if any(x in SKIP_DIRS or x.startswith(".") for x in parts) or base.startswith("~$"):
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    _skip(on_skip, where, "symbolic link inside the archive, not followed")
                    continue
                if info.flag_bits & 0x1:
                    _skip(on_skip, where, "password-protected archive member",
                          "unzip it yourself with the password and point miner at the folder")
                    continue
                if info.file_size > MAX_MEMBER_BYTES or (
                    info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1)
                ):
                    _skip(on_skip, where, "archive member is implausibly large for its compressed size (zip bomb?)")
                    continue
                total += info.file_size
                if total > MAX_TOTAL_BYTES:
                    _skip(on_skip, label, "archive expands beyond 32 GB; stopped reading it (zip bomb?)")
                    return
                member_opener = _member_opener(opener, name, info.file_size, where)
                entry = Entry(name=where, size=info.file_size, opener=member_opener, root=root)
                if base.lower().endswith(".zip"):
                    if depth >= MAX_ZIP_DEPTH:
                        _skip(on_skip, where, f"ZIP nested deeper than {MAX_ZIP_DEPTH} levels, not opened")
                        continue
                    yield from _zip_entries(where, _spooled(member_opener), root_name, root, depth + 1, on_skip)
                else:
                    yield entry
    finally:
        fh.close()


def _member_opener(outer_opener, name: str, size: int, where: str):
    def open_member() -> IO[bytes]:
        fh = outer_opener()
        try:
            zf = zipfile.ZipFile(fh)
            raw = zf.open(name)
        except (*DAMAGED, ValueError, RuntimeError) as e:  # RuntimeError: encrypted (a duplicate name)
            fh.close()
            raise InputError(where, f"archive member cannot be opened ({e})", "download the archive again") from None
        except Exception:
            fh.close()
            raise

        class _Closing(_Guarded):
            def close(self_inner) -> None:
                try:
                    super().close()
                finally:
                    zf.close()
                    fh.close()

        # A little slack over the stated size: the guard is against bombs, not rounding.
        return io.BufferedReader(_Closing(raw, size + 1024 * 1024, where), buffer_size=1 << 20)

    return open_member


def check_container(fh: IO[bytes], where: str, limit: int) -> None:
    """Refuse a document that is a ZIP read whole (DOCX, EPUB) when its parts would unpack to
    more than `limit` bytes, or one part at a zip-bomb ratio: reading it would fill memory.
    `fh` must be seekable; it is left at the start. Not a ZIP: nothing to check here."""
    try:
        with zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
    except Exception:  # not a readable ZIP: the document's own reader reports that
        infos = []
    finally:
        fh.seek(0)
    total = 0
    for info in infos:
        total += info.file_size
        if total > limit or (info.file_size > RATIO_MIN_BYTES
                             and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
            raise InputError(where, f"would unpack to more than {limit // 1024**2} MB (zip bomb?)",
                             "refusing to read it")


def _spooled(member_opener):
    """ZipFile needs a seekable file: copy a nested archive into a temporary file (in memory
    while small), never under its own name."""

    def open_spooled() -> IO[bytes]:
        tmp = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)
        with member_opener() as src:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                tmp.write(chunk)
        tmp.seek(0)
        return tmp

    return open_spooled


def _printable(name: str) -> str:
    """A member name as shown to the user: a damaged archive can name a member with line
    breaks or other control characters, which would break the one-line messages."""
    if name.isprintable():
        return name
    return "".join(f"\\u{ord(c):04x}" if ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" else c
                   for c in name)


def _skip(on_skip, where: str, reason: str, hint: str = "") -> None:
    if on_skip is not None:
        on_skip(where, reason + (f" ({hint})" if hint else ""))
