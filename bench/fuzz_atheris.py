"""Coverage-guided fuzzing of every parser with atheris (libFuzzer for Python), beside the
hypothesis suite in tests/fuzz. Not part of the test run: a tool for a developer with time.

    pip install atheris
    python bench/fuzz_atheris.py CORPUS_DIR -atheris_runs=200000      # all parsers
    python bench/fuzz_atheris.py CORPUS_DIR -max_total_time=600 -- chatgpt   (one parser, by file name)

The first byte of each input picks the file name (and so the suffix detection sees), the rest
is the file's content. The contract is the one tests/fuzz checks: records or a MinerError,
never another exception. Seeds: samples/ and tests/data are copied into CORPUS_DIR.

What it found beyond the hypothesis suite (10 minutes, ~36,000 runs at ~60 runs/s): a control
character in an HTML page's <meta charset> crashed lxml (fixed in parsers/html.py; regression
test tests/fuzz/test_fuzz_documents.py::test_garbled_charset_declaration_in_html). Nothing else.
"""
from __future__ import annotations

import io
import os
import shutil
import sys
import zipfile

import atheris

with atheris.instrument_imports():
    from miner import documents, jsonstream, parsers, sources  # noqa: F401 - instrumented for coverage
    from miner.errors import MinerError
    from miner.sources import Entry

    parsers.available()  # the parser modules load lazily: import them here, so they are instrumented

NAMES = ["conversations.json", "chats.jsonl", "Takeout/Keep/note.json", "Takeout/Keep/note.html", "book.docx",
         "book.epub", "essay.pdf", "draft.rtf", "notes.enex", "page.html", "note.md", "draft.txt", "README"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONLY = ""


def one_input(data: bytes) -> None:
    if not data:
        return
    name = NAMES[data[0] % len(NAMES)]
    if ONLY and ONLY not in name:
        return
    body = data[1:]
    entry = Entry(name=f"x.zip!{name}", size=len(body), opener=lambda: io.BytesIO(body))
    for kind in (None, "chat", "document"):
        try:
            mod = parsers.detect(entry, kind=kind)
            for _ in mod.parse(entry, parsers.ParseOptions(extra={"artifacts": True})):
                pass
        except MinerError:
            pass


def seed(corpus: str) -> None:
    os.makedirs(corpus, exist_ok=True)
    for folder in ("samples", os.path.join("tests", "data")):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for f in files:
                if f.endswith((".py", ".pyc", ".yaml")):
                    continue
                suffix = os.path.splitext(f)[1]
                idx = next((i for i, n in enumerate(NAMES) if n.endswith(suffix)), len(NAMES) - 1)
                path = os.path.join(dirpath, f)
                if f.endswith(".zip"):  # the exports: their conversations.json
                    with zipfile.ZipFile(path) as z:
                        data = bytes([0]) + z.read("conversations.json")
                else:
                    with open(path, "rb") as src:
                        data = bytes([idx]) + src.read()
                with open(os.path.join(corpus, f"seed-{f}"), "wb") as dst:
                    dst.write(data)
    shutil.rmtree(os.path.join(corpus, "__pycache__"), ignore_errors=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--" in args:
        ONLY = args[args.index("--") + 1]
        args = args[:args.index("--")]
    if args and not args[0].startswith("-"):
        seed(args[0])
    atheris.Setup([sys.argv[0], *args], one_input)
    atheris.Fuzz()
