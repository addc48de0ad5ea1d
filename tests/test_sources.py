"""Inputs as people have them: folders, ZIPs, ZIPs inside ZIPs, and hostile archives.
Nothing is ever extracted; every problem is one clear line and the rest is read."""
import io
import os
import zipfile

import orjson
import pytest

from miner import sources
from miner.errors import InputError
from miner.sources import iter_entries

LINE = orjson.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}) + b"\n"


def make_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def collect(paths):
    skips = []
    entries = list(iter_entries([str(p) for p in paths], on_skip=lambda w, r: skips.append((w, r))))
    return entries, skips


def test_folder_is_walked_recursively_and_hidden_things_are_ignored(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.jsonl").write_bytes(LINE)
    (tmp_path / ".obsidian").mkdir()
    (tmp_path / ".obsidian" / "config.json").write_text("{}")
    (tmp_path / "~$lock.docx").write_text("x")
    (tmp_path / "two.jsonl").write_bytes(LINE)
    entries, _ = collect([tmp_path])
    assert sorted(os.path.basename(e.name) for e in entries) == ["one.jsonl", "two.jsonl"]


def test_zip_members_are_read_in_place(tmp_path):
    z = make_zip(tmp_path / "export.zip", {"conversations.json": b"[]", "sub/notes.md": b"# hi"})
    entries, _ = collect([z])
    assert [e.name for e in entries] == [f"{z}!conversations.json", f"{z}!sub/notes.md"]
    assert entries[1].open().read() == b"# hi"
    assert entries[1].suffix == ".md"


def test_zip_inside_zip_is_opened(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("Page abc123.md", b"# Page")
    outer = make_zip(tmp_path / "notion.zip", {"Export-1-Part-1.zip": inner.getvalue()})
    entries, _ = collect([outer])
    assert [e.name for e in entries] == [f"{outer}!Export-1-Part-1.zip!Page abc123.md"]
    assert entries[0].open().read() == b"# Page"


def test_nesting_deeper_than_the_limit_is_reported(tmp_path):
    data = b"x"
    name = "leaf.txt"
    for i in range(sources.MAX_ZIP_DEPTH + 1):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(name, data)
        data, name = buf.getvalue(), f"level{i}.zip"
    top = tmp_path / "deep.zip"
    top.write_bytes(data)
    entries, skips = collect([top])
    assert entries == []
    assert any("nested deeper" in r for _, r in skips)


def test_path_traversal_and_absolute_names_are_only_labels(tmp_path):
    z = make_zip(tmp_path / "evil.zip", {"../../escape.jsonl": LINE, "/abs/path.jsonl": LINE})
    before = set(os.listdir(tmp_path.parent))
    entries, _ = collect([z])
    for e in entries:
        assert e.open().read() == LINE
    assert set(os.listdir(tmp_path.parent)) == before  # nothing written anywhere
    assert not (tmp_path.parent.parent / "escape.jsonl").exists()


def test_symlink_members_are_not_followed(tmp_path):
    z = tmp_path / "links.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("link.jsonl")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
        zf.writestr("real.jsonl", LINE)
    entries, skips = collect([z])
    assert [e.basename for e in entries] == ["real.jsonl"]
    assert any("symbolic link" in r for _, r in skips)


def test_password_protected_member_gets_a_clear_message(tmp_path):
    z = make_zip(tmp_path / "locked.zip", {"conversations.json": b"[]"})
    raw = bytearray(z.read_bytes())
    # Set the "encrypted" flag in the local header and the central directory record.
    raw[6] |= 1
    cd = raw.find(b"PK\x01\x02")
    raw[cd + 8] |= 1
    z.write_bytes(bytes(raw))
    entries, skips = collect([z])
    assert entries == []
    assert any("password-protected" in r for _, r in skips)


def test_member_claiming_a_huge_ratio_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "RATIO_MIN_BYTES", 1000)
    z = make_zip(tmp_path / "bomb.zip", {"bomb.json": b"0" * 5_000_000, "ok.jsonl": LINE})
    entries, skips = collect([z])
    assert [e.basename for e in entries] == ["ok.jsonl"]
    assert any("zip bomb" in r for _, r in skips)


def test_member_that_expands_past_its_stated_size_stops(tmp_path):
    z = make_zip(tmp_path / "liar.zip", {"a.jsonl": b"a" * 3_000_000})
    raw = bytearray(z.read_bytes())
    # Lie about the uncompressed size in the central directory (offset 24 in the record).
    cd = raw.find(b"PK\x01\x02")
    raw[cd + 24: cd + 28] = (100).to_bytes(4, "little")
    z.write_bytes(bytes(raw))
    entries, _ = collect([z])
    with pytest.raises(Exception) as e:
        with entries[0].open() as f:
            while f.read(1 << 16):
                pass
    # zipfile's own CRC/size check or our guard: either way reading stops with an error.
    assert isinstance(e.value, (InputError, zipfile.BadZipFile))


def test_corrupt_zip_is_reported_not_fatal(tmp_path):
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    good = tmp_path / "good.jsonl"
    good.write_bytes(LINE)
    entries, skips = collect([bad, good])
    assert [e.basename for e in entries] == ["good.jsonl"]
    assert any("not a readable ZIP" in r for _, r in skips)


def test_missing_path_is_an_error_naming_it(tmp_path):
    with pytest.raises(InputError) as e:
        collect([tmp_path / "nope"])
    assert "nope" in str(e.value)


def test_docx_is_not_walked_as_an_archive(tmp_path):
    z = make_zip(tmp_path / "novel.docx", {"word/document.xml": b"<w/>", "[Content_Types].xml": b"<x/>"})
    entries, _ = collect([z])
    assert [e.name for e in entries] == [str(z)]


def test_members_pointing_outside_the_archive_are_reported(tmp_path):
    z = make_zip(tmp_path / "evil2.zip", {"../up.jsonl": LINE, "ok.jsonl": LINE})
    entries, skips = collect([z])
    assert [e.basename for e in entries] == ["ok.jsonl"]
    assert any("outside the archive" in r for _, r in skips)
