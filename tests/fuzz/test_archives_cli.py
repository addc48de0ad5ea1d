"""Hostile archives end to end, through `miner convert` and `miner chunk` as an author runs them:
path traversal (../), absolute paths, symbolic links, zip bombs (by ratio and by total size),
ZIPs inside ZIPs past the depth limit, password-protected members, a half-downloaded ZIP.

For each: the good members are still read, the bad one is named in one line of the summary,
the exit code is 0 (something was written) or 1 (nothing was), and nothing is ever written
outside the output file: no extracted member anywhere, not even in the temporary folder.
"""
from __future__ import annotations

import io
import os
import tempfile
import zipfile

import orjson
import pytest
from click.testing import CliRunner

from miner import sources
from miner.cli import cli

CHAT = orjson.dumps({"messages": [{"role": "user", "content": "How is the sea?"},
                                  {"role": "assistant", "content": "Grey and loud this morning."}]}) + b"\n"
NOTE = b"# Harbour\n\nThe boats came in at six, and the gulls followed them to the quay.\n"
GOOD = {"chats/good.jsonl": CHAT, "notes/good.md": NOTE}


def zip_bytes(members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in symlinks:
                info.external_attr = 0o120777 << 16
            z.writestr(info, data)
    return buf.getvalue()


def encrypted(blob: bytes, name: str) -> bytes:
    """Mark `name` as password-protected (the flag in its local header and directory record)."""
    raw = bytearray(blob)
    info = zipfile.ZipFile(io.BytesIO(blob)).getinfo(name)
    raw[info.header_offset + 6] |= 1
    pos = -1
    while True:
        pos = raw.find(b"PK\x01\x02", pos + 1)
        n = int.from_bytes(raw[pos + 28:pos + 30], "little")
        if raw[pos + 46:pos + 46 + n] == name.encode():
            raw[pos + 8] |= 1
            return bytes(raw)


def nested(depth: int, leaf: dict[str, bytes]) -> bytes:
    data = zip_bytes(leaf)
    for i in range(depth - 1):
        data = zip_bytes({f"level{i}.zip": data})
    return data


def snapshot(*folders) -> dict[str, set[str]]:
    out = {}
    for f in folders:
        out[str(f)] = {os.path.join(d, x) for d, _, files in os.walk(f) for x in files}
    return out


CASES = {
    "traversal": (lambda: zip_bytes({**GOOD, "../../../escaped.md": NOTE, "../chats/evil.jsonl": CHAT}), None),
    "absolute": (lambda: zip_bytes({**GOOD, "/tmp/miner-absolute.md": NOTE, "/etc/miner.jsonl": CHAT}), None),
    "symlink": (lambda: zip_bytes({**GOOD, "notes/link.md": b"/etc/passwd", "chats/link.jsonl": b"/etc/passwd"},
                                  symlinks=("notes/link.md", "chats/link.jsonl")), "symbolic link"),
    "password": (lambda: encrypted(encrypted(zip_bytes({**GOOD, "notes/secret.md": NOTE, "chats/secret.jsonl": CHAT}),
                                             "notes/secret.md"), "chats/secret.jsonl"), "password-protected"),
    "too-deep": (lambda: zip_bytes({**GOOD, "deep.zip": nested(sources.MAX_ZIP_DEPTH + 1,
                                                               {"x.md": NOTE, "x.jsonl": CHAT})}), "nested deeper"),
    "nested-ok": (lambda: zip_bytes({**GOOD, "Export-1.zip": nested(2, {"in/x.md": NOTE, "in/x.jsonl": CHAT})}), None),
    "ratio-bomb": (lambda: zip_bytes({**GOOD, "bomb.md": b" " * 3_000_000, "bomb.jsonl": b" " * 3_000_000}), "zip bomb"),
}


@pytest.mark.parametrize("command", ["convert", "chunk"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_archive_end_to_end(case, command, tmp_path, monkeypatch):
    make, expected = CASES[case]
    if case == "ratio-bomb":  # the real limits start at 64 MB; the same check on a small bomb
        monkeypatch.setattr(sources, "RATIO_MIN_BYTES", 100_000)
    work = tmp_path / "work"
    work.mkdir()
    archive = work / "export.zip"
    archive.write_bytes(make())
    out = work / "out.jsonl"
    monkeypatch.chdir(work)
    # A private temporary folder for this run, so other processes on the machine (which also
    # create temporary files) cannot make the "nothing new in the temp folder" check flaky.
    private_tmp = tmp_path / "systmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    before = snapshot(tmp_path, tempfile.gettempdir() if case != "absolute" else tmp_path)
    before_tmp = set(os.listdir(tempfile.gettempdir()))

    res = CliRunner().invoke(cli, [command, str(archive), "-o", str(out)])
    text = " ".join((res.output + (res.stderr or "")).split())  # the summary table wraps lines
    assert res.exit_code == 0, text
    assert "Traceback" not in text and "This is a bug" not in text
    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    # the good members are read; nothing from outside the archive
    got = " ".join(orjson.dumps(r).decode() for r in rows)
    assert ("Grey and loud" in got) if command == "convert" else ("gulls followed them" in got)
    assert "root:" not in got  # no symlink target was read
    if expected:
        assert expected in text, text
    # nothing extracted anywhere: only the archive and the output in the work folder, and
    # no new file in the system temporary folder or at the absolute paths named
    assert sorted(os.listdir(work)) == ["export.zip", "out.jsonl"]
    assert snapshot(tmp_path)[str(tmp_path)] == before[str(tmp_path)] | {str(out)}
    assert set(os.listdir(tempfile.gettempdir())) - before_tmp <= {p for p in os.listdir(tempfile.gettempdir())
                                                                   if p.startswith("pytest")}
    assert not os.path.exists("/tmp/miner-absolute.md") and not os.path.exists("/etc/miner.jsonl")
    if command == "convert" and case in ("absolute", "nested-ok"):
        assert len(rows) == 2  # the member under an absolute name / in the inner ZIP is read in place


@pytest.mark.parametrize("command", ["convert", "chunk"])
def test_half_downloaded_archive(command, tmp_path):
    """The download stopped: no central directory. One line says so; nothing is written."""
    blob = zip_bytes({**GOOD, "more.md": NOTE * 50})
    archive = tmp_path / "export.zip"
    archive.write_bytes(blob[: len(blob) * 2 // 3])
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(cli, [command, str(archive), "-o", str(out)])
    text = " ".join((res.output + (res.stderr or "")).split())
    assert res.exit_code in (0, 1) and "Traceback" not in text
    assert "not a readable ZIP archive" in text and "re-download" in text
    if command == "convert":
        assert res.exit_code == 1 and not out.exists()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".partial")]
