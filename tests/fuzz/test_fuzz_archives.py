"""Fuzzing archives as people download them: export ZIPs truncated mid-download, with flipped
bytes, damaged members, odd compression methods or versions, members renamed to ../ paths,
absolute paths and symlinks, and ZIPs inside ZIPs. Everything goes through
sources.iter_entries (what convert, chunk and inspect walk) and then detection and parsing.

The walk never raises for a damaged archive (it reports it through on_skip, one line naming
the archive or member); each entry then ends as records or one clear error; nothing is ever
written outside the test's folder.
"""
from __future__ import annotations

import io
import os
import random
import zipfile

import pytest
from fuzzkit import ROOT, TOKENS, budget, budgets, exercise, mutate, mutate_zip
from hypothesis import given
from hypothesis import strategies as st

from miner.sources import iter_entries

pytestmark = pytest.mark.usefixtures("bounded_memory")


def _notes_zip() -> bytes:
    """A Notion-style export: Markdown notes in a ZIP inside a ZIP, plus an Obsidian note."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted((ROOT / "samples" / "notes").rglob("*.md")):
            z.writestr(f"Export/{p.name}", p.read_bytes())
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("Export-1-Part-1.zip", inner.getvalue())
        z.writestr("Vault/Harbour walk.md", (ROOT / "samples" / "notes" / "Harbour walk.md").read_bytes())
        z.writestr("essay.pdf", (ROOT / "samples" / "essay.pdf").read_bytes())
    return outer.getvalue()


ARCHIVES = {
    "chatgpt-export.zip": (ROOT / "samples" / "chatgpt-export.zip").read_bytes(),
    "claude-export.zip": (ROOT / "samples" / "claude-export.zip").read_bytes(),
    "notion-export.zip": _notes_zip(),
}


def walk(path: str) -> tuple[int, list[tuple[str, str]]]:
    """Every entry of the archive detected and parsed; returns (entries, skips)."""
    skips: list[tuple[str, str]] = []
    n = 0
    for entry in iter_entries([path], on_skip=lambda where, reason: skips.append((where, reason))):
        n += 1
        assert entry.name == path or entry.name.startswith(path + "!"), entry.name  # no longer a ZIP: a file
        exercise(entry)
    for where, reason in skips:
        assert where.startswith(path) and reason.strip() and "\n" not in reason, (where, reason)
    return n, skips


def archive_inputs() -> st.SearchStrategy[tuple[str, bytes]]:
    name = st.sampled_from(sorted(ARCHIVES))
    how = st.sampled_from(["bytes", "members", "truncated"])
    return st.builds(_damaged, name, how, st.integers(0, 2**32 - 1))


def _damaged(name: str, how: str, seed: int) -> tuple[str, bytes]:
    rng = random.Random(seed)
    data = ARCHIVES[name]
    if how == "truncated":  # a download that stopped
        return name, data[: rng.randrange(len(data))]
    if how == "members":
        return name, mutate_zip(data, rng, "json" if "notion" not in name else "text")
    return name, mutate(data, rng, TOKENS["text"], rng.randint(1, 3))


@pytest.mark.parametrize("n", budgets(0.5))
def test_damaged_archives_are_reported_not_fatal(n, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    outside = set(os.listdir(tmp_path))
    seen = {"entries": 0, "skips": 0}

    @budget(n)
    @given(archive_inputs())
    def case(named):
        name, blob = named
        path = folder / name
        path.write_bytes(blob)
        entries, skips = walk(str(path))
        seen["entries"] += entries
        seen["skips"] += len(skips)

    case()
    assert seen["entries"] and seen["skips"]  # both paths were taken
    assert set(os.listdir(tmp_path)) == outside  # nothing extracted anywhere
    assert sorted(os.listdir(folder)) <= sorted(ARCHIVES)


@pytest.mark.parametrize("n", budgets(0.5))
def test_hostile_member_names_and_flags(n, tmp_path):
    """../ and absolute names, symlink and encryption flags, unknown compression methods and
    versions, duplicated names, nested archives: never extracted, never fatal."""
    folder = tmp_path / "in"
    folder.mkdir()

    @budget(n)
    @given(st.lists(st.tuples(st.sampled_from(["../../escape.md", "/etc/evil.md", "C:\\\\win.md", "a/../../b.md",
                                                "sub/ok.md", "nested.zip", "x/.hidden.md", "~$lock.docx",
                                                "conversations.json", "dup.md", "dup.md"]),
                              st.sampled_from(["plain", "symlink", "encrypted", "method", "version", "nested"])),
                    min_size=1, max_size=6))
    def case(members):
        path = folder / "hostile.zip"
        path.write_bytes(_hostile_zip(members))
        walk(str(path))

    case()
    assert os.listdir(tmp_path) == ["in"] and os.listdir(folder) == ["hostile.zip"]
    assert not os.path.exists("/etc/evil.md")


def _hostile_zip(members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, how in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            data = b"# Note\n\nThe tide came in.\n"
            if how == "symlink":
                info.external_attr = 0o120777 << 16
                data = b"/etc/passwd"
            elif how == "nested":
                inner = io.BytesIO()
                with zipfile.ZipFile(inner, "w") as zi:
                    zi.writestr("inner/" + name.rsplit("/", 1)[-1], data)
                data = inner.getvalue()
            z.writestr(info, data)
    blob = bytearray(buf.getvalue())
    # Flags and methods zipfile would not write: patched into the central directory.
    with zipfile.ZipFile(io.BytesIO(bytes(blob))) as z:
        infos = z.infolist()
    for (name, how), info in zip(members, infos):
        cd = _central_entry(blob, info.filename, infos.index(info))
        if cd < 0:
            continue
        if how == "encrypted":
            blob[cd + 8] |= 0x01
        elif how == "method":
            blob[cd + 10:cd + 12] = (99).to_bytes(2, "little")
        elif how == "version":
            blob[cd + 6:cd + 8] = (65).to_bytes(2, "little")
    return bytes(blob)


def _central_entry(blob: bytearray, filename: str, index: int) -> int:
    """Offset of the index-th central directory record."""
    pos = -1
    for _ in range(index + 1):
        pos = blob.find(b"PK\x01\x02", pos + 1)
        if pos < 0:
            return -1
    return pos


def test_member_names_with_line_breaks_are_shown_on_one_line(tmp_path):
    """Found by the slow fuzz run: a damaged archive named a member "CvEd\\n+2024.md"."""
    path = tmp_path / "odd.zip"
    path.write_bytes(zip_members({"notes/Two\nlines.md": b"# A\n\nThe tide.\n", "bad\x1b\u2028.md": b"x",
                                  "Caf\u00e9 \u200fnote.md": b"y"}))
    walk(str(path))
    names = [e.name for e in iter_entries([str(path)])]
    assert names == [f"{path}!Caf\u00e9 \u200fnote.md", f"{path}!bad\\u001b\\u2028.md",
                     f"{path}!notes/Two\\u000alines.md"]


def test_a_member_without_a_name_is_skipped(tmp_path):
    """Found by the slow fuzz run: zipfile's is_dir() fails on an empty name (IndexError)."""
    raw = bytearray(zip_members({"Q": b"x", "notes/a.md": b"# A\n\nThe tide.\n"}))
    cd = raw.find(b"PK\x01\x02")  # the first directory record is "Q": its name becomes extra bytes
    raw[cd + 28:cd + 30] = (0).to_bytes(2, "little")
    raw[cd + 30:cd + 32] = (1).to_bytes(2, "little")
    path = tmp_path / "nameless.zip"
    path.write_bytes(bytes(raw))
    assert "" in zipfile.ZipFile(path).namelist()
    entries, _ = walk(str(path))
    assert entries == 1


def zip_members(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_flipped_byte_in_a_downloaded_export_is_one_clear_line(tmp_path):
    """One bad byte inside conversations.json's compressed data: the member is reported as
    damaged (CRC or inflate error), the rest of the archive is still read."""
    data = bytearray(ARCHIVES["chatgpt-export.zip"])
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("conversations.json")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    path = tmp_path / "export.zip"
    path.write_bytes(bytes(data))
    entries, skips = walk(str(path))
    assert entries == 6
    from miner.errors import InputError
    from miner.parsers import detect

    member = next(e for e in iter_entries([str(path)]) if e.name.endswith("conversations.json"))
    with pytest.raises(InputError, match=r"conversations\.json: archive member is damaged"):
        detect(member)
