"""The same hostile inputs through the command line, as an author runs it: `miner convert`,
`miner chunk` and `miner inspect` on mutated exports, documents and archives.

Exit code 0 or 1 only (2 means "a bug in miner"), never a traceback, never a skip that says
"internal error"; after exit 0 the output is complete JSONL; after exit 1 nothing exists
under the output name; no temporary file is left behind.
"""
from __future__ import annotations

import os

import orjson
import pytest
from click.testing import CliRunner
from fuzzkit import budget, budgets, from_seeds
from hypothesis import given
from hypothesis import strategies as st

from miner.cli import cli

pytestmark = pytest.mark.usefixtures("bounded_memory")

CHAT = ["chatgpt", "claude", "chat_jsonl"]
DOCS = ["docx", "epub", "pdf", "rtf", "enex", "html", "markdown", "text", "keep"]
KIND = {"chatgpt": "json", "claude": "json", "chat_jsonl": "json", "docx": "xml", "epub": "xml", "pdf": "pdf",
        "rtf": "rtf", "enex": "xml", "html": "xml", "markdown": "text", "text": "text", "keep": "json"}


def inputs(parsers: list[str]) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.one_of([from_seeds(p, KIND[p], zipped=p in ("docx", "epub")) for p in parsers])


def check_run(args: list[str], out: str | None) -> None:
    res = CliRunner().invoke(cli, args)
    text = res.output + (res.stderr if res.stderr_bytes is not None else "")
    assert res.exit_code in (0, 1), f"exit {res.exit_code}: {text[-2000:]}"
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in text and "This is a bug" not in text, text[-2000:]
    assert "internal error" not in text, text[-2000:]
    if out is None:
        return
    folder = os.path.dirname(out)
    assert not [f for f in os.listdir(folder) if f.endswith(".partial")], os.listdir(folder)
    if res.exit_code == 0:
        with open(out, "rb") as f:
            for line in f:
                assert isinstance(orjson.loads(line), dict)
    else:
        assert not os.path.exists(out)


def _cases(parsers, command, n, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    out = tmp_path / "out" / "out.jsonl"
    out.parent.mkdir()

    @budget(n)
    @given(inputs(parsers))
    def case(named):
        name, blob = named
        for f in src.iterdir():
            f.unlink()
        path = src / name.replace("/", "_")
        path.write_bytes(blob)
        if out.exists():
            out.unlink()
        if command == "inspect":
            check_run(["inspect", str(path)], None)
        else:
            check_run([command, str(path), "-o", str(out), "--quiet"], str(out))

    case()


@pytest.mark.parametrize("n", budgets(0.2))
def test_convert_on_mutated_chat_exports(n, tmp_path):
    _cases(CHAT, "convert", n, tmp_path)


@pytest.mark.parametrize("n", budgets(0.2))
def test_chunk_on_mutated_documents(n, tmp_path):
    _cases(DOCS, "chunk", n, tmp_path)


@pytest.mark.parametrize("n", budgets(0.1))
def test_inspect_on_anything(n, tmp_path):
    _cases(CHAT + DOCS, "inspect", n, tmp_path)
