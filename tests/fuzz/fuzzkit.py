"""The fuzz suite's machinery (imported by the test modules; conftest.py holds the fixtures). Where it sits: it drives every parser the way the pipeline does
(sources.Entry -> parsers.detect -> mod.parse, for `miner inspect`, `convert` and `chunk`'s
kinds) and checks the one contract all parsers share:

    records (Conversation / Preference / Document / Skip) or a MinerError naming the file,
    never another exception, never a hang, never runaway memory.

Budgets: every fuzz test is parametrised twice: `quick` (a few dozen examples, in the default
`pytest` run) and `10k` (10,000 examples, marked slow; CI runs `pytest -m slow`). The
environment can change both: MINER_FUZZ_QUICK and MINER_FUZZ_EXAMPLES; MINER_FUZZ_SHRINK=1
turns shrinking of failing inputs back on (off by default: it can take minutes per failure).
The quick runs (the default `pytest`, the README's test command) use the same inputs every
time, so that suite passes or fails the same way for everyone. The slow runs explore new inputs
on every run, except under CI=true; run `pytest -m slow tests/fuzz` now and then to look for
new crashes.

Inputs come from three places, combined by hypothesis: export-shaped JSON with random types in
every field (`shaped`), real samples (samples/, tests/data, and small files built here) put
through byte- and member-level mutations (`mutated`, `mutated_zip`), and hand-written hostile
shapes in the test modules (deep nesting, cycles, bombs).
"""
from __future__ import annotations

import contextlib
import functools
import io
import os
import pathlib
import random
import signal
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

TESTS = pathlib.Path(__file__).resolve().parent.parent
ROOT = TESTS.parent

from chat_builders import json_paths
from miner import parsers
from miner.errors import MinerError
from miner.models import ROLES, Block, Conversation, Document, Message, Preference, Skip
from miner.sources import Entry

QUICK = int(os.environ.get("MINER_FUZZ_QUICK", "30"))
SLOW = int(os.environ.get("MINER_FUZZ_EXAMPLES", "10000"))
CASE_SECONDS = float(os.environ.get("MINER_FUZZ_CASE_SECONDS", "30"))  # one input: far above normal
# Shrinking a failing export can take minutes; the failing input is reported either way.
SHRINK = os.environ.get("MINER_FUZZ_SHRINK") == "1"
# The default suite and CI gate a change on the same inputs every time (a new random crash, or
# a random draw that happens to miss the parser under test, must not fail an unrelated change);
# slow runs elsewhere explore new inputs. MINER_FUZZ_RANDOM=1 forces exploration everywhere.
RANDOM = os.environ.get("MINER_FUZZ_RANDOM") == "1"
DERANDOMIZE = os.environ.get("CI") == "true" and not RANDOM




def budgets(share: float = 1.0) -> list:
    """The two runs of a fuzz test: `quick` (default suite) and the slow one. A parser fuzzed
    by several tests gives each a `share` of its 10,000 cases (the shares add up to 1)."""
    slow = max(1, round(SLOW * share))
    return [
        pytest.param(QUICK, id="quick"),
        pytest.param(slow, id=f"slow{slow}", marks=[pytest.mark.slow, pytest.mark.timeout(3600)]),
    ]


BUDGETS = budgets()


def budget(n: int):
    """Hypothesis settings for `n` examples: no per-example deadline (the alarm below is the
    hang check; CI machines are shared and slow), no health checks that only measure speed."""
    phases = list(Phase) if SHRINK else [p for p in Phase if p is not Phase.shrink]
    fixed = DERANDOMIZE or (n <= QUICK and not RANDOM)
    return settings(max_examples=n, deadline=None, derandomize=fixed, print_blob=True, phases=phases,
                    suppress_health_check=list(HealthCheck))


# ---- hangs and memory --------------------------------------------------------------------

class Hang(BaseException):
    """Raised by the alarm. A BaseException, so a parser's `except Exception` cannot hide it."""


@contextlib.contextmanager
def deadline(seconds: float = CASE_SECONDS):
    if not hasattr(signal, "SIGALRM"):  # pragma: no cover - Windows: rely on pytest-timeout
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"no result after {seconds:.0f} s: a hang")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---- the contract --------------------------------------------------------------------------

def bytes_entry(name: str, data: bytes) -> Entry:
    """An Entry over bytes in memory, as an archive member is (no path on disk)."""
    return Entry(name=name, size=len(data), opener=lambda: io.BytesIO(data))


def file_entry(folder: pathlib.Path, name: str, data: bytes) -> Entry:
    """An Entry for a real file `folder/name` (written, or overwritten, with `data`)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Entry(name=str(path), size=len(data), opener=lambda p=str(path): open(p, "rb"), path=str(path),
                 root=str(path))


def _utf8(s: Any, what: str) -> None:
    assert isinstance(s, str), f"{what} is {type(s).__name__}, not str"
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate: orjson (the writers) cannot write it
        raise AssertionError(f"{what} is not valid Unicode ({e})") from None


def check_item(item: Any, entry: Entry, any_role: bool = False) -> str:
    """Asserts `item` is a well-formed record; returns its kind. `any_role`: datasets read
    back (chat JSONL) keep whatever role a line names; the export parsers only make ROLES."""
    roles = None if any_role else ROLES
    if isinstance(item, Skip):
        _utf8(item.reason, "Skip.reason")
        _utf8(item.where, "Skip.where")
        _utf8(item.detail, "Skip.detail")
        assert item.reason.strip(), "a Skip without a reason"
        assert entry.name in item.where, f"Skip.where {item.where!r} does not name the file"
        return "skip"
    if isinstance(item, Conversation):
        assert isinstance(item.messages, list)
        for m in item.messages:
            assert isinstance(m, Message) and isinstance(m.role, str) and (roles is None or m.role in roles), m
            _utf8(m.content, "message content")
        for what in ("id", "title", "source"):
            _utf8(getattr(item, what), f"Conversation.{what}")
        assert item.created is None or isinstance(item.created, (int, float)), item.created
        orjson.dumps(item.meta, option=orjson.OPT_NON_STR_KEYS)
        return "conversation"
    if isinstance(item, Preference):
        for m in [*item.prompt, item.chosen, item.rejected]:
            assert isinstance(m, Message) and isinstance(m.role, str) and (roles is None or m.role in roles), m
            _utf8(m.content, "message content")
        return "preference"
    if isinstance(item, Document):
        _utf8(item.title, "Document.title")
        _utf8(item.source, "Document.source")
        for b in item.blocks:
            assert isinstance(b, Block) and b.kind in ("heading", "paragraph", "break", "page"), b
            _utf8(b.text, "block text")
            assert isinstance(b.level, int)
        orjson.dumps(item.meta, option=orjson.OPT_NON_STR_KEYS)
        return "document"
    raise AssertionError(f"parser yielded {type(item).__name__}: {item!r:.200}")


def check_error(e: MinerError, entry: Entry) -> None:
    msg = str(e)
    _utf8(msg, "error message")
    assert msg.strip(), "an empty error message"
    assert "\n" not in msg, f"error message is not one line: {msg!r:.300}"
    assert entry.name in msg, f"error message does not name the file: {msg!r:.300}"


@dataclass
class Outcome:
    detected: dict[Any, str] = field(default_factory=dict)  # kind -> parser NAME or "error"
    items: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def parsed_by(self, name: str) -> bool:
        return name in self.detected.values()


KINDS = (None, "chat", "document")  # inspect, convert, chunk


def exercise(entry: Entry, opts: parsers.ParseOptions | None = None, kinds=KINDS) -> Outcome:
    """Detect and parse `entry` as every command would. Any exception other than MinerError
    propagates (hypothesis reports it, shrunk)."""
    opts = opts or parsers.ParseOptions(extra={"artifacts": True})
    out = Outcome()
    done: set[str] = set()
    with deadline():
        for kind in kinds:
            try:
                mod = parsers.detect(entry, kind=kind)
            except MinerError as e:
                check_error(e, entry)
                out.detected[kind] = "error"
                out.errors.append(str(e))
                continue
            out.detected[kind] = mod.NAME
            assert kind is None or mod.KIND == kind, f"{mod.NAME} ({mod.KIND}) chosen for kind {kind}"
            if mod.NAME in done:
                continue
            done.add(mod.NAME)
            try:
                for item in mod.parse(entry, opts):
                    out.items[check_item(item, entry, any_role=mod.NAME == "chat-jsonl")] += 1
            except MinerError as e:
                check_error(e, entry)
                out.errors.append(str(e))
    return out


def fuzz_parser(target: str, inputs: st.SearchStrategy, n: int, folder: pathlib.Path, min_share: float,
                archive: str = "export.zip", opts: parsers.ParseOptions | None = None) -> Coverage:
    """Run `n` cases of (file name, bytes) from `inputs`, each as an archive member in memory
    or as a file on disk, and check that at least `min_share` of them reached `target`."""
    cov = Coverage(target)

    @budget(n)
    @given(inputs, st.booleans())
    def case(named, on_disk):
        name, blob = named
        e = file_entry(folder, name, blob) if on_disk else bytes_entry(f"{archive}!{name}", blob)
        cov.add(exercise(e, opts))

    case()
    cov.check(min_share)
    return cov


class Coverage:
    """Counts how often the parser under test was the one chosen, so a test can prove its
    inputs reached that parser (and not only detection's error path)."""

    def __init__(self, name: str):
        self.name = name
        self.cases = 0
        self.hits = 0
        self.records = 0

    def add(self, o: Outcome) -> None:
        self.cases += 1
        if o.parsed_by(self.name):
            self.hits += 1
            self.records += sum(v for k, v in o.items.items() if k != "skip")

    def check(self, min_share: float = 0.3) -> None:
        assert self.cases, "no cases ran"
        assert self.hits >= min_share * self.cases, (
            f"only {self.hits} of {self.cases} inputs reached the {self.name} parser")


# ---- seeds: real samples and small files built here -------------------------------------------

def _zip_member(path: pathlib.Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(name)


@functools.lru_cache(maxsize=None)
def seeds(name: str) -> tuple[tuple[str, bytes], ...]:
    """(file name, bytes) of valid inputs for the parser `name`."""
    s = ROOT / "samples"
    d = TESTS / "data"
    if name == "chatgpt":
        return (("conversations.json", _zip_member(s / "chatgpt-export.zip", "conversations.json")),)
    if name == "claude":
        return (("conversations.json", _zip_member(s / "claude-export.zip", "conversations.json")),)
    if name == "chat_jsonl":
        return (("chats.jsonl", _chat_jsonl()), ("pairs.jsonl", _dpo_jsonl()), ("array.json", _chat_array()))
    if name == "keep":
        return (("Takeout/Keep/Shopping.json", _keep_json()), ("Takeout/Keep/Walk.html", _keep_html()))
    if name == "docx":
        return (("manuscript.docx", (s / "manuscript.docx").read_bytes()), ("small.docx", _small_docx()))
    if name == "epub":
        return (("book.epub", _epub()),)
    if name == "pdf":
        return (("essay.pdf", (s / "essay.pdf").read_bytes()),)
    if name == "rtf":
        return (("draft.rtf", (d / "scrivener_content.rtf").read_bytes()), ("story.rtf", _rtf()))
    if name == "enex":
        return (("notes.enex", (s / "notes.enex").read_bytes()),)
    if name == "html":
        return (("note.html", (d / "apple_notes_export.html").read_bytes()), ("page.html", _html()))
    if name == "markdown":
        return tuple((p.name, p.read_bytes()) for p in sorted((s / "notes").rglob("*.md")))
    if name == "text":
        return tuple((p.name, p.read_bytes()) for p in sorted(d.glob("*.txt")))
    raise KeyError(name)


def _chat_jsonl() -> bytes:
    lines = [
        {"messages": [{"role": "system", "content": "You are Greg."}, {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello there.", "weight": 1}]},
        {"conversations": [{"from": "human", "value": "Tell me a story"}, {"from": "gpt", "value": "Once..."}]},
        {"instruction": "Summarise", "input": "The tide.", "output": "Water moved."},
        {"contents": [{"role": "user", "parts": [{"text": "hey"}]}, {"role": "model", "parts": [{"text": "yo"}]}]},
    ]
    return b"".join(orjson.dumps(x) + b"\n" for x in lines)


def _dpo_jsonl() -> bytes:
    line = {"input": {"messages": [{"role": "user", "content": "Write a line"}]},
            "preferred_output": [{"role": "assistant", "content": "The sea was grey."}],
            "non_preferred_output": [{"role": "assistant", "content": "Certainly! The sea."}]}
    trl = {"prompt": [{"role": "user", "content": "Q"}], "chosen": [{"role": "assistant", "content": "A"}],
           "rejected": [{"role": "assistant", "content": "B"}]}
    return orjson.dumps(line) + b"\n" + orjson.dumps(trl) + b"\n"


def _chat_array() -> bytes:
    return orjson.dumps([{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}] * 3)


def _keep_json() -> bytes:
    return orjson.dumps({
        "color": "DEFAULT", "isTrashed": False, "isPinned": True, "isArchived": False,
        "textContent": "Walked to the harbour.\n\n***\n\nThe boats were in.", "title": "Harbour",
        "userEditedTimestampUsec": 1700000000000000, "createdTimestampUsec": 1690000000000000,
        "labels": [{"name": "walks"}],
        "listContent": [{"text": "bread", "isChecked": True}, {"text": "milk", "isChecked": False}],
        "annotations": [{"description": "x", "source": "WEBLINK", "title": "t", "url": "https://example.com"}],
    })


def _keep_html() -> bytes:
    return (b'<html><head><title>Walk</title></head><body><div class="note DEFAULT">'
            b'<div class="heading"><div class="meta-icons"></div>Jan 1, 2024</div><div class="title">Walk</div>'
            b'<div class="content">Down to the harbour.<br>Gulls everywhere.</div></div></body></html>')


def _small_docx() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("Chapter One", level=1)
    d.add_paragraph("The tide came in over the causeway, and Mara counted the gulls.")
    d.add_paragraph("* * *")
    d.add_paragraph("By evening the lamps were lit.")
    t = d.add_table(rows=1, cols=2)
    t.rows[0].cells[0].text = "cell"
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _epub() -> bytes:
    chapter = ('<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>x'
               '</title></head><body>{}</body></html>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml",
                   '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:'
                   'container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-'
                   'package+xml"/></rootfiles></container>')
        z.writestr("OEBPS/content.opf", """<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
 <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>The Lighthouse Year</dc:title></metadata>
 <manifest>
  <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
  <item id="c1" href="text/ch1.xhtml" media-type="application/xhtml+xml"/>
  <item id="c2" href="text/ch2.xhtml" media-type="application/xhtml+xml"/>
 </manifest>
 <spine><itemref idref="nav"/><itemref idref="c2"/><itemref idref="c1"/></spine>
</package>""")
        z.writestr("OEBPS/nav.xhtml", chapter.format("<nav><ol><li>Chapter 1</li></ol></nav>"))
        z.writestr("OEBPS/text/ch2.xhtml", chapter.format("<h1>Spring</h1><p>The ice broke.</p><p>* * *</p>"))
        z.writestr("OEBPS/text/ch1.xhtml", chapter.format("<p>No heading here, just summer.</p>"))
    return buf.getvalue()


def _rtf() -> bytes:
    return (rb"{\rtf1\ansi\deff0{\fonttbl{\f0 Times;}}{\info{\title Story}}"
            rb"\pard\b Chapter One\b0\par The tide came in.\par \u8212? she said.\par\page Next page\par}")


def _html() -> bytes:
    return (b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Essay</title><style>p{}</style></head><body>"
            b"<h1>On Tides</h1><p>The sea <b>rose</b>.</p><hr><ul><li>one</li></ul><script>x()</script>"
            b"<table><tr><td>a</td></tr></table></body></html>")


# ---- byte mutations ------------------------------------------------------------------------------

TOKENS = {
    "json": [b"[", b"]", b"{", b"}", b'"', b",", b":", b"null", b"true", b"1e999", b"-0", b'"\\ud800"',
             b'"\\u0000"', b"[" * 300, b"{\"a\":" * 50, b'"mapping"', b'"parent"', b'"children"', b'"content"'],
    "xml": [b"<", b">", b"</", b"&amp;", b"&nope;", b"<![CDATA[", b"]]>", b"<!--", b"-->", b"<?xml ?>",
            b'<!DOCTYPE x [<!ENTITY e "eeeeeeeeee">]>', b"<div>" * 200, b"\x00", b"&#0;", b"&#xD800;"],
    "rtf": [b"{", b"}", b"\\", b"\\par", b"\\u-1?", b"\\u99999999?", b"\\'ff", b"{\\*\\x ", b"{" * 300,
            b"\\bin9999 ", b"\\uc5 "],
    "pdf": [b"obj", b"endobj", b"stream", b"endstream", b"xref", b"trailer", b"/Length 99999999", b"<<", b">>",
            b"/Filter /FlateDecode", b"(", b")", b"[", b"]", b"%%EOF", b"-1", b"99999999999", b"/Type /Page",
            b"0 0 R", b"1 0 R"],
    "text": [b"\r\n", b"\r", b"\n\n", b"\t", b"\xe2\x80\xa8", b"* * *", b"Chapter 7", b"#", b"---\n", b"\x0c"],
}
BOMS = [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00"]
BAD_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x80\x80"]


def mutate(data: bytes, rng: random.Random, tokens: list[bytes], rounds: int) -> bytes:
    """Apply `rounds` random mutations to `data` (truncation, flips, insertions of format
    tokens, BOMs, invalid UTF-8 and NULs, deletions, repeats)."""
    b = bytearray(data)
    for _ in range(rounds):
        op = rng.randrange(11)
        n = len(b)
        at = rng.randrange(n + 1) if n else 0
        if op == 0 and n:  # truncated download
            del b[rng.randrange(n):]
        elif op == 1 and n:  # flipped bits
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
        elif op == 2:
            b[at:at] = rng.choice(tokens)
        elif op == 3 and n:  # a range deleted
            del b[at:at + rng.randint(1, 64)]
        elif op == 4 and n:  # a range repeated (a long string or a huge run)
            piece = bytes(b[at:at + rng.randint(1, 32)]) or b"x"
            b[at:at] = piece * rng.randint(2, 2000)
        elif op == 5:
            b[at:at] = rng.choice(BAD_UTF8)
        elif op == 6:
            b[at:at] = b"\x00" * rng.randint(1, 4)
        elif op == 7:
            b[0:0] = rng.choice(BOMS)
        elif op == 8 and n:  # random bytes overwrite
            for i in range(at, min(len(b), at + rng.randint(1, 16))):
                b[i] = rng.randrange(256)
        elif op == 9 and n:  # two pieces swapped
            j = rng.randrange(n)
            lo, hi = sorted((at, j))
            b = b[:lo] + b[hi:hi + 16] + b[lo + 16:hi] + b[lo:lo + 16] + b[hi + 16:]
        elif op == 10:
            b[at:at] = rng.choice(tokens) * rng.randint(1, 50)
    return bytes(b)


def named(names, data: st.SearchStrategy[bytes]) -> st.SearchStrategy[tuple[str, bytes]]:
    """(file name, bytes): the name matters, detection looks at suffixes and folders."""
    return st.tuples(st.sampled_from(list(names)), data)


def from_seeds(parser: str, kind: str, names=None, zipped: bool = False) -> st.SearchStrategy[tuple[str, bytes]]:
    """The parser's seed files, mutated (member-level for ZIP containers), under the seed's
    own name or one of `names`."""
    options = []
    for seed_name, blob in seeds(parser):
        data = mutated_zip(blob, kind) if zipped else mutated(blob, kind)
        options.append(named([seed_name, *(names or [])], data))
    return st.one_of(options)


def mutated(data: bytes, kind: str, max_rounds: int = 4) -> st.SearchStrategy[bytes]:
    """`data` with 0..max_rounds mutations (0 keeps some valid inputs in the mix)."""
    return st.builds(lambda seed, rounds: mutate(data, random.Random(seed), TOKENS[kind], rounds),
                     st.integers(0, 2**32 - 1), st.integers(0, max_rounds))


def mutate_zip(data: bytes, rng: random.Random, kind: str) -> bytes:
    """Member-level mutation of a ZIP container (DOCX, EPUB): each member's bytes may be
    mutated, members dropped, duplicated, renamed or added, compression changed; the archive
    is written again so the damage reaches the reader instead of stopping at a CRC check."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, blob in members:
            r = rng.random()
            if r < 0.08:
                continue  # a member missing
            if r < 0.5:
                blob = mutate(blob, rng, TOKENS[kind], rng.randint(1, 3))
            if rng.random() < 0.03:
                name = rng.choice(["../evil.xml", "/abs.xml", name.upper(), name + "/", "word/document.xml"])
            method = zipfile.ZIP_STORED if name == "mimetype" or rng.random() < 0.3 else zipfile.ZIP_DEFLATED
            with contextlib.suppress(ValueError):
                z.writestr(name, blob, compress_type=method)
        if rng.random() < 0.1:
            z.writestr(rng.choice(["extra.bin", "word/_rels/x.rels", "META-INF/encryption.xml"]),
                       mutate(b"<x/>", rng, TOKENS[kind], 2))
    blob = out.getvalue()
    if rng.random() < 0.1:  # damage to the archive itself
        blob = mutate(blob, rng, TOKENS["text"], 1)
    return blob


def mutated_zip(data: bytes, kind: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.just(data),
        st.integers(0, 2**32 - 1).map(lambda seed: mutate_zip(data, random.Random(seed), kind)),
    )


# ---- export-shaped JSON with random types ---------------------------------------------------

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=8,
)
WEIRD_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\ufeff", "\u202e", "\ue200cite\ue202turn0search0\ue201", "【1†source】",
                     "<antThinking>x</antThinking>", "\r\n", "user", "assistant", "system", "tool", "human", "NaN"]),
    st.text(max_size=3).map(lambda s: s * 5000),  # a huge string
)


def _get(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k]
    return obj


OPS = ("replace", "replace", "replace", "text", "delete", "add", "duplicate", "empty")


def apply_edit(obj: Any, path_pick: int, op: str, value: Any, text: str) -> Any:
    """One edit at one position of `obj` (chosen by `path_pick` modulo the number of
    positions): a value of another type, a hostile string, a missing key, an extra key, a
    repeated list item, an empty container. Edits `obj` in place where it can."""
    paths = json_paths(obj)
    path = paths[path_pick % len(paths)]
    if not path:
        return value if op == "replace" else obj
    parent = _get(obj, path[:-1])
    key = path[-1]
    if op == "replace":
        parent[key] = value
    elif op == "text":
        parent[key] = text
    elif op == "delete":
        del parent[key]
    elif op == "add":
        target = parent[key]
        if isinstance(target, dict):
            target[text[:8]] = value
        elif isinstance(target, list):
            target.append(value)
        else:
            parent[key] = [target, value]
    elif op == "duplicate":
        if isinstance(parent, list):
            parent.insert(key, parent[key])
        else:
            parent[key] = [parent[key], parent[key]]
    elif op == "empty":
        parent[key] = type(parent[key])() if isinstance(parent[key], (dict, list, str)) else None
    return obj


def corrupt_everywhere(obj: Any, rng: random.Random, rate: float) -> Any:
    """Every field independently: with probability `rate`, a value of a random other type."""
    choices = [None, True, 0, -1, 2**53, 1.5, "", "x", [], {}, [None], {"": None}, "\x00", "\ud7ff"]
    if isinstance(obj, dict):
        return {k: (rng.choice(choices) if rng.random() < rate else corrupt_everywhere(v, rng, rate))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [rng.choice(choices) if rng.random() < rate else corrupt_everywhere(v, rng, rate) for v in obj]
    return obj


def export_like(templates: list[Any]) -> st.SearchStrategy[Any]:
    """JSON shaped like one of `templates` (real export records), with any field holding a
    value of another type, missing, duplicated or joined by extra keys: a few targeted edits
    (shrinkable) plus, sometimes, a sprinkle of wrong types over every field."""
    edit = st.tuples(st.integers(0, 2**20), st.sampled_from(OPS), ANY_JSON, WEIRD_TEXT)
    return st.builds(
        _edited,
        st.sampled_from(range(len(templates))).map(lambda i: templates[i]),
        st.lists(edit, max_size=6),
        st.integers(0, 2**32 - 1),
        st.sampled_from([0.0, 0.0, 0.0, 0.02, 0.1, 0.5]),
    )


def _edited(template: Any, edits: list, seed: int, rate: float) -> Any:
    obj = orjson.loads(orjson.dumps(template))  # a deep copy
    if rate:
        obj = corrupt_everywhere(obj, random.Random(seed), rate)
    for pick, op, value, text in edits:
        obj = apply_edit(obj, pick, op, value, text)
    return obj
