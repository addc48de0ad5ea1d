"""The review edit store: the dataset being reviewed, imported once into SQLite beside the output.

Where it sits: `miner review` opens it (importing the JSONL on first use, streamed), the web app
(app.py) queries and edits it, the statistics worker (stats.py) reads the current state from it
and writes flags back, and Save streams the original file once more and writes the reviewed copy.

Design:
- One row per non-blank line of the original file; the row id *is* the 1-based line number, so
  it stays meaningful to the author ("line 1203") and matches `miner stats`/`validate` output.
- Unedited examples are written back byte for byte from the original file; only edited ones
  are re-serialised, and then only the changed turns are touched, so keys the review cannot
  show (weights, tool calls, metadata) survive.
- Every data change is an operation with a snapshot of the rows it touched, so the latest
  changes can be undone, also after a restart.
- The original file is only ever opened for reading; its size, mtime and sha256 are recorded,
  and edits are never applied to a file that has changed since.
- Library code: never prints; raises MinerError subclasses with plain-language messages.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace as dc_replace
from types import ModuleType

import orjson

from miner import tokens as tok
from miner import writers
from miner.errors import ConfigError, InputError, MinerError, OutputError
from miner.output import AtomicFile, check_writable

SCHEMA_VERSION = 1
PAGE_SIZE = 50
PREVIEW_CHARS = 200
HISTORY_LIMIT = 100  # undoable operations kept; older snapshots are dropped
RAW_KEEP_CHARS = 20_000  # how much of an unreadable line is kept for display
BATCH = 500
BOM = b"\xef\xbb\xbf"

# Statistics warnings (from miner.hygiene.stats), in the order the page lists them.
FLAGS = {
    "phrase": "over-represented phrase",
    "near-duplicate": "near-duplicate",
    "refusal": "refusal",
    "too-long": "over the token limit",
}
STATUSES = {
    "active": "not deleted",
    "unreviewed": "not yet reviewed",
    "reviewed": "reviewed",
    "edited": "edited",
    "deleted": "deleted",
    "unreadable": "unreadable lines",
    "all": "everything",
}
SORTS = ("position", "tokens")


class StaleError(MinerError):
    """The dataset changed between a preview and the action it previewed."""


def default_out(source: str) -> str:
    """`wlm.jsonl` -> `wlm.reviewed.jsonl`, in the same folder."""
    base, ext = os.path.splitext(source)
    return f"{base}.reviewed{ext or '.jsonl'}"


def store_path_for(out: str) -> str:
    return out + ".review.sqlite"


# ---- small pure helpers ------------------------------------------------------------------

def _dumps(obj) -> str:
    return orjson.dumps(obj).decode()


def _collapse(text: str, limit: int = PREVIEW_CHARS) -> str:
    """One line of at most `limit` characters, for list previews."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def derive(messages: list[dict]) -> tuple[str, str, str]:
    """(search text, first user turn, first words of the answer) of a message list."""
    text = "\n\n".join(m["content"] for m in messages).casefold()
    first_user, answer = "", ""
    for i, m in enumerate(messages):
        if m["role"] == "user":
            first_user = _collapse(m["content"])
            for later in messages[i + 1:]:
                if later["role"] == "assistant":
                    answer = _collapse(later["content"])
                    break
            break
    if not answer:  # no user turn, or no reply to it: show the first answer there is
        answer = next((_collapse(m["content"]) for m in messages if m["role"] == "assistant"), "")
    return text, first_user, answer


def _source_of(obj: dict, conv_source: str) -> str:
    src = obj.get("source")
    if isinstance(src, str) and src:
        return src
    for key in ("metadata", "meta"):
        m = obj.get(key)
        if isinstance(m, dict) and isinstance(m.get("source"), str):
            return m["source"]
    return conv_source or ""


class _Formats:
    """Detects the format of each line; datasets are uniform, so the last hit is tried first
    (asking the whole registry for every one of 50,000 lines would be slow)."""

    def __init__(self) -> None:
        self.last: ModuleType | None = None

    def detect(self, obj) -> ModuleType | None:
        if self.last is not None:
            try:
                if self.last.matches(obj):
                    return self.last
            except Exception:
                pass
        mod = writers.detect_line(obj)
        if mod is not None:
            self.last = mod
        return mod


@dataclass
class Parsed:
    fmt: str = ""  # writer format name; "" when the line cannot be shown as a chat
    messages: list[dict] | None = None  # [{"role", "content"}], content always a str
    source: str = ""
    problem: str = ""  # why the line is unreadable ("" when fine)


def parse_line(raw: bytes, formats: _Formats | None = None) -> Parsed:
    """Read one JSONL line into reviewable messages, or say in plain words why not."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        # orjson says "...: line 1 column 2 (char 1)"; "line 1" would be wrong here, so keep the gist.
        return Parsed(problem=f"not valid JSON ({str(e).split(':', 1)[0] or 'cannot be parsed'})")
    if not isinstance(obj, dict):
        return Parsed(problem="not a JSON object")
    mod = (formats or _Formats()).detect(obj)
    if mod is None:
        return Parsed(problem="not a chat example in a format miner knows")
    if getattr(mod, "KIND", "sft") != "sft":
        return Parsed(problem=f"a {mod.NAME} preference pair; review edits chat examples only")
    try:
        conv = mod.read(obj)
    except Exception as e:  # a writer's reader failing on one odd line must not stop the import
        return Parsed(problem=f"cannot read it as {mod.NAME} ({e})")
    messages = [{"role": m.role, "content": m.content if isinstance(m.content, str) else ""} for m in conv.messages]
    if not messages:
        return Parsed(problem="has no messages")
    return Parsed(fmt=mod.NAME, messages=messages, source=_source_of(obj, conv.source))


def apply_messages(obj: dict, fmt: str, original: list[dict], current: list[dict]) -> dict:
    """The original JSON object with the edited turns put in; everything else untouched."""
    msgs = obj.get("messages")
    if fmt == "openai" and isinstance(msgs, list) and len(msgs) == len(current):
        new_msgs = list(msgs)
        for i, (o, c) in enumerate(zip(original, current)):
            if o["content"] != c["content"]:
                new_msgs[i] = {**msgs[i], "content": c["content"]}
        return {**obj, "messages": new_msgs}
    mod = writers.get(fmt)
    conv = mod.read(obj)
    for m, c in zip(conv.messages, current):
        m.content = c["content"]
    return {**obj, **mod.render(conv)}


@dataclass(frozen=True)
class Fingerprint:
    size: int
    mtime_ns: int
    sha256: str

    def to_json(self) -> str:
        return _dumps([self.size, self.mtime_ns, self.sha256])

    @classmethod
    def from_json(cls, s: str | None) -> Fingerprint | None:
        if not s:
            return None
        size, mtime, sha = orjson.loads(s)
        return cls(size, mtime, sha)


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(path: str) -> Fingerprint:
    st = os.stat(path)
    return Fingerprint(st.st_size, st.st_mtime_ns, _sha256_file(path))


def _same_file(path: str, fp: Fingerprint | None) -> bool:
    """True if `path` still has the content `fp` describes (sha256 only when size/mtime moved)."""
    if fp is None or not os.path.isfile(path):
        return False
    st = os.stat(path)
    if st.st_size != fp.size:
        return False
    return st.st_mtime_ns == fp.mtime_ns or _sha256_file(path) == fp.sha256


# ---- queries -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListQuery:
    """What the list page shows: sort, filters and page. Unknown values fall back to defaults
    (they come straight from the URL)."""

    sort: str = "position"
    order: str = ""  # "" = the natural order: by position from the top, by size biggest first
    q: str = ""
    flag: str = ""
    status: str = "active"
    page: int = 1

    def normalized(self) -> ListQuery:
        sort = self.sort if self.sort in SORTS else "position"
        return ListQuery(
            sort=sort,
            order=self.order if self.order in ("asc", "desc") else _natural_order(sort),
            q=self.q.strip()[:500],
            flag=self.flag if self.flag in FLAGS else "",
            status=self.status if self.status in STATUSES else "active",
            page=max(1, self.page),
        )

    def with_(self, **kw) -> ListQuery:
        return dc_replace(self, **kw)

    def params(self) -> dict[str, str]:
        """The non-default parts, for building URLs."""
        d = {}
        for k, default in (("sort", "position"), ("order", _natural_order(self.sort)), ("q", ""), ("flag", ""),
                           ("status", "active")):
            v = getattr(self, k)
            if v != default:
                d[k] = v
        if self.page != 1:
            d["page"] = str(self.page)
        return d


def _natural_order(sort: str) -> str:
    return "desc" if sort == "tokens" else "asc"


@dataclass
class Row:
    id: int
    tokens: int
    first_user: str
    answer: str
    source: str
    flags: list[str]
    deleted: bool
    reviewed: bool
    edited: bool
    problem: str


@dataclass
class Page:
    rows: list[Row]
    total: int
    page: int
    pages: int
    query: ListQuery


@dataclass
class Example:
    id: int
    messages: list[dict]
    tokens: int
    source: str
    flags: list[str]
    deleted: bool
    reviewed: bool
    edited: bool
    problem: str
    raw: str
    original: list[dict] | None


@dataclass(frozen=True)
class Replace:
    """A find/replace across the dataset. Literal by default; `regex` uses Python's syntax
    (replacement may use \\1 or \\g<name>). `role` limits it to turns of one role."""

    find: str
    replace: str = ""
    regex: bool = False
    case: bool = True
    role: str = ""

    def pattern(self) -> re.Pattern:
        if not self.find:
            raise ConfigError("type the text to find")
        flags = 0 if self.case else re.IGNORECASE
        try:
            pat = re.compile(self.find if self.regex else re.escape(self.find), flags)
        except re.error as e:
            raise ConfigError(f"the pattern {self.find!r} is not a valid regular expression: {e}") from None
        if pat.match(""):
            raise ConfigError(f"the pattern {self.find!r} matches empty text, so it would change every turn; "
                              "make it match at least one character")
        return pat

    def replacement_for(self, m: re.Match) -> str:
        if not self.regex:
            return self.replace
        try:
            return m.expand(self.replace)
        except (re.error, IndexError) as e:
            raise ConfigError(f"the replacement {self.replace!r} does not fit the pattern: {e} "
                              "(use \\1 or \\g<name> for groups, \\\\ for a backslash)") from None

    def apply(self, pat: re.Pattern, text: str) -> tuple[str, int]:
        return pat.subn(self.replacement_for, text)


@dataclass
class Hit:
    turn: int
    role: str
    before: str
    old: str
    new: str
    after: str


@dataclass
class PreviewItem:
    id: int
    first_user: str
    matches: int
    hits: list[Hit]


@dataclass
class Preview:
    spec: Replace
    matches: int = 0
    examples: int = 0
    items: list[PreviewItem] = field(default_factory=list)


@dataclass
class SaveResult:
    path: str
    written: int
    deleted: int
    edited: int
    unreadable: int


# ---- the store ---------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE examples(
    id INTEGER PRIMARY KEY,         -- 1-based line number in the original file
    fmt TEXT NOT NULL,              -- writer format of the line ('' if unreadable)
    problem TEXT NOT NULL,          -- why it cannot be shown as a chat ('' if fine)
    raw TEXT,                       -- the line itself, for unreadable lines only
    messages TEXT,                  -- current turns, JSON [{role, content}]
    original TEXT,                  -- turns as imported, kept once edited (NULL = unedited)
    text TEXT NOT NULL,             -- casefolded contents, for search
    tokens INTEGER NOT NULL,
    first_user TEXT NOT NULL,
    answer TEXT NOT NULL,
    source TEXT NOT NULL,
    flags TEXT NOT NULL DEFAULT '', -- ',phrase,refusal,'
    deleted INTEGER NOT NULL DEFAULT 0,
    reviewed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX examples_tokens ON examples(tokens, id);
CREATE TABLE ops(id INTEGER PRIMARY KEY, label TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE history(
    op INTEGER NOT NULL, example INTEGER NOT NULL,
    messages TEXT, original TEXT, deleted INTEGER NOT NULL, tokens INTEGER NOT NULL,
    PRIMARY KEY(op, example)
);
"""


def _connect(path: str, importing: bool = False) -> sqlite3.Connection:
    # One connection shared by the server's threads, serialised by Store.lock.
    con = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    if importing:
        # A half-imported store is thrown away, never reopened: no journal, no fsync.
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
    else:
        # WAL: a crash or Ctrl-C never corrupts the store, at most loses the very last change.
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
    return con


class Store:
    """The edit store. Thread-safe: every method takes `self.lock`."""

    def __init__(self, source: str, out: str, path: str, con: sqlite3.Connection, force: bool = False):
        self.source = source
        self.out = out
        self.path = path
        self.force = force
        self.con = con
        self.lock = threading.RLock()

    # -- opening and importing ---------------------------------------------------------------

    @classmethod
    def open(cls, source: str, out: str | None = None, *, force: bool = False, start_over: bool = False,
             on_progress: Callable[[int], None] | None = None) -> Store:
        """Open the store for `source` (importing it on first use) and check the output can be
        written. `on_progress(n_bytes)` is called while importing."""
        if not os.path.exists(source):
            raise InputError(source, "no such file")
        if not os.path.isfile(source):
            raise InputError(source, "is not a file", "give the JSONL dataset to review")
        out = out or default_out(source)
        if os.path.exists(out) and os.path.samefile(out, source):
            raise OutputError(f"{out}: is the file being reviewed; the original is never modified, "
                              "so choose another --out")
        check_writable(out, force=True)  # the folder exists and `out` is not a folder
        path = store_path_for(out)
        if start_over:
            _remove(path)
        store = None
        if os.path.exists(path):
            store = cls._reopen(source, out, path, force)
        if store is None:
            store = cls._import(source, out, path, force, on_progress)
        store.check_out()
        return store

    @classmethod
    def _reopen(cls, source: str, out: str, path: str, force: bool) -> Store | None:
        try:
            con = _connect(path)
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError:
            raise InputError(path, "is not a review store miner can read",
                             "move it away, or run with --start-over to discard it") from None
        store = cls(source, out, path, con, force)
        try:  # anything that would be lost by starting afresh (undone changes do not count)
            edits = con.execute("SELECT 1 FROM examples WHERE original IS NOT NULL OR deleted=1 LIMIT 1").fetchone() is not None
        except sqlite3.DatabaseError:
            edits = int(meta.get("version", "0")) > 0
        if meta.get("schema") != str(SCHEMA_VERSION) or meta.get("complete") != "1":
            if edits:
                raise InputError(path, "was made by another version of miner",
                                 "run with --start-over to discard its edits and begin again")
            con.close()
            return None
        if meta.get("source") != os.path.abspath(source):
            con.close()
            raise InputError(path, f"holds review edits of {meta.get('source')}, not of {source}",
                             "choose another --out, or run with --start-over to discard those edits")
        fp = Fingerprint.from_json(meta.get("fingerprint"))
        if not _same_file(source, fp):
            if not edits:  # nothing to lose: import the new content
                con.close()
                return None
            con.close()
            raise InputError(source, "has changed since you started reviewing it, so the edits kept in "
                             f"{path} no longer line up with its lines",
                             "put the old file back, or run with --start-over to discard those edits")
        return store

    @classmethod
    def _import(cls, source: str, out: str, path: str, force: bool,
                on_progress: Callable[[int], None] | None) -> Store:
        partial = path + ".partial"
        _remove(partial)
        con = _connect(partial, importing=True)
        try:
            os.chmod(partial, 0o600)  # it holds the author's writing
            con.executescript(_SCHEMA)
            con.execute("BEGIN")
            sha, size, mtime_ns = cls._load(con, source, on_progress)
            meta = {
                "schema": str(SCHEMA_VERSION),
                "source": os.path.abspath(source),
                "fingerprint": Fingerprint(size, mtime_ns, sha).to_json(),
                "version": "0",
                "saved_version": "0",
                "created": str(time.time()),
                "complete": "1",
            }
            con.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            con.execute("COMMIT")
            con.close()
        except BaseException:
            con.close()
            _remove(partial)
            raise
        _remove(path)
        os.replace(partial, path)
        return cls(source, out, path, _connect(path), force)

    @staticmethod
    def _load(con: sqlite3.Connection, source: str, on_progress) -> tuple[str, int, int]:
        st_before = os.stat(source)
        h = hashlib.sha256()
        formats = _Formats()
        batch: list[tuple] = []
        done = 0
        with open(source, "rb") as f:
            for n, raw in enumerate(f, 1):
                h.update(raw)
                done += len(raw)
                if n == 1:
                    raw = raw.removeprefix(BOM)
                if raw.strip():
                    batch.append(_row_for(n, raw, formats))
                if len(batch) >= BATCH:
                    _insert(con, batch)
                    batch.clear()
                    if on_progress:
                        on_progress(done)
                        done = 0
        _insert(con, batch)
        if on_progress and done:
            on_progress(done)
        st = os.stat(source)
        if (st.st_size, st.st_mtime_ns) != (st_before.st_size, st_before.st_mtime_ns):
            raise InputError(source, "changed while it was being read", "wait until it is complete and try again")
        return h.hexdigest(), st.st_size, st.st_mtime_ns

    # -- meta ------------------------------------------------------------------------------

    def _meta(self, key: str, default: str = "") -> str:
        row = self.con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def version(self) -> int:
        """Bumped by every change to the data; the statistics and Save compare against it."""
        with self.lock:
            return int(self._meta("version", "0"))

    @property
    def unsaved(self) -> bool:
        with self.lock:
            return self._meta("version", "0") != self._meta("saved_version", "0")

    @property
    def ever_saved(self) -> bool:
        with self.lock:
            return bool(self._meta("saved_fingerprint"))

    def close(self) -> None:
        with self.lock:
            self.con.close()

    # -- reading -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self.lock:
            r = self.con.execute(
                "SELECT COUNT(*), SUM(deleted=0 AND problem=''), SUM(deleted=1), SUM(original IS NOT NULL), "
                "SUM(reviewed=1 AND deleted=0), SUM(problem != '' AND deleted=0), "
                "SUM(CASE WHEN deleted=0 THEN tokens ELSE 0 END) "
                "FROM examples").fetchone()
            keys = ("lines", "active", "deleted", "edited", "reviewed", "unreadable", "tokens")
            d = {k: int(v or 0) for k, v in zip(keys, r)}
            for flag in FLAGS:
                d[flag] = self.con.execute(
                    "SELECT COUNT(*) FROM examples WHERE deleted=0 AND instr(flags, ?) > 0", (f",{flag},",)).fetchone()[0]
            return d

    @staticmethod
    def _where(q: ListQuery) -> tuple[str, list]:
        conds, params = [], []
        status = {
            "active": "deleted=0",
            "deleted": "deleted=1",
            "edited": "original IS NOT NULL",
            "reviewed": "reviewed=1 AND deleted=0",
            "unreviewed": "reviewed=0 AND deleted=0",
            "unreadable": "problem != ''",
            "all": "",
        }[q.status]
        if status:
            conds.append(status)
        if q.flag:
            conds.append("instr(flags, ?) > 0")
            params.append(f",{q.flag},")
        if q.q:
            conds.append("instr(text, ?) > 0")
            params.append(q.q.casefold())
        return (" WHERE " + " AND ".join(conds)) if conds else "", params

    @staticmethod
    def _order(q: ListQuery) -> str:
        d = "DESC" if q.order == "desc" else "ASC"
        return f"ORDER BY tokens {d}, id ASC" if q.sort == "tokens" else f"ORDER BY id {d}"

    def page(self, query: ListQuery, size: int = PAGE_SIZE) -> Page:
        q = query.normalized()
        where, params = self._where(q)
        with self.lock:
            total = self.con.execute(f"SELECT COUNT(*) FROM examples{where}", params).fetchone()[0]
            pages = max(1, math.ceil(total / size))
            page = min(q.page, pages)
            rows = self.con.execute(
                "SELECT id, tokens, first_user, answer, source, flags, deleted, reviewed, original IS NOT NULL, problem "
                f"FROM examples{where} {self._order(q)} LIMIT ? OFFSET ?",
                [*params, size, (page - 1) * size]).fetchall()
        return Page([_row(r) for r in rows], total, page, pages, q.with_(page=page))

    def get(self, id: int) -> Example | None:
        with self.lock:
            r = self.con.execute(
                "SELECT id, messages, tokens, source, flags, deleted, reviewed, original, problem, raw "
                "FROM examples WHERE id=?", (id,)).fetchone()
        if r is None:
            return None
        return Example(id=r[0], messages=orjson.loads(r[1]) if r[1] else [], tokens=r[2], source=r[3],
                       flags=_flags(r[4]), deleted=bool(r[5]), reviewed=bool(r[6]), edited=r[7] is not None,
                       original=orjson.loads(r[7]) if r[7] else None, problem=r[8], raw=r[9] or "")

    def neighbours(self, id: int, query: ListQuery) -> tuple[int | None, int | None]:
        """The examples before and after `id` in the list's order and filter (the example
        itself need not match the filter any more, e.g. just after it was deleted)."""
        q = query.normalized()
        where, params = self._where(q)
        join = " AND " if where else " WHERE "
        with self.lock:
            cur = self.con.execute("SELECT tokens FROM examples WHERE id=?", (id,)).fetchone()
            if cur is None:
                return None, None
            t = cur[0]
            if q.sort == "tokens":
                bigger = "(tokens > ? OR (tokens = ? AND id > ?))"
                smaller = "(tokens < ? OR (tokens = ? AND id < ?))"
                if q.order == "desc":  # list runs big -> small, ties by position
                    after = "(tokens < ? OR (tokens = ? AND id > ?))"
                    before = "(tokens > ? OR (tokens = ? AND id < ?))"
                    after_order, before_order = "tokens DESC, id ASC", "tokens ASC, id DESC"
                else:
                    after, before = bigger, smaller
                    after_order, before_order = "tokens ASC, id ASC", "tokens DESC, id DESC"
                key = [t, t, id]
            else:
                after, before = ("id < ?", "id > ?") if q.order == "desc" else ("id > ?", "id < ?")
                after_order, before_order = ("id DESC", "id ASC") if q.order == "desc" else ("id ASC", "id DESC")
                key = [id]
            nxt = self.con.execute(f"SELECT id FROM examples{where}{join}{after} ORDER BY {after_order} LIMIT 1",
                                   [*params, *key]).fetchone()
            prv = self.con.execute(f"SELECT id FROM examples{where}{join}{before} ORDER BY {before_order} LIMIT 1",
                                   [*params, *key]).fetchone()
        return (prv[0] if prv else None), (nxt[0] if nxt else None)

    # -- changing ----------------------------------------------------------------------------

    def _begin_op(self, label: str) -> int:
        self.con.execute("BEGIN IMMEDIATE")
        return self.con.execute("INSERT INTO ops(label, at) VALUES (?, ?)", (label, time.time())).lastrowid

    def _snapshot(self, op: int, id: int) -> None:
        self.con.execute("INSERT OR IGNORE INTO history SELECT ?, id, messages, original, deleted, tokens "
                         "FROM examples WHERE id=?", (op, id))

    def _end_op(self) -> None:
        self.con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='version'")
        keep_from = self.con.execute("SELECT id FROM ops ORDER BY id DESC LIMIT 1 OFFSET ?",
                                     (HISTORY_LIMIT - 1,)).fetchone()
        if keep_from:
            self.con.execute("DELETE FROM history WHERE op < ?", keep_from)
            self.con.execute("DELETE FROM ops WHERE id < ?", keep_from)
        self.con.execute("COMMIT")

    def _rollback(self) -> None:
        if self.con.in_transaction:
            self.con.execute("ROLLBACK")

    def _write_messages(self, id: int, messages: list[dict], original: list[dict] | None) -> None:
        """Store new turns for `id`; `original` is what they were at import."""
        text, first_user, answer = derive(messages)
        orig = None if original is None or original == messages else _dumps(original)
        self.con.execute("UPDATE examples SET messages=?, original=?, text=?, tokens=?, first_user=?, answer=? "
                         "WHERE id=?", (_dumps(messages), orig, text, tok.count_messages(messages),
                                        first_user, answer, id))

    def _editable(self, id: int) -> tuple[list[dict], list[dict]]:
        r = self.con.execute("SELECT messages, original, problem FROM examples WHERE id=?", (id,)).fetchone()
        if r is None:
            raise ConfigError(f"there is no example on line {id}")
        if r[2]:
            raise ConfigError(f"line {id} is {r[2]}, so it cannot be edited here; delete it or fix it in the file")
        messages = orjson.loads(r[0])
        return messages, (orjson.loads(r[1]) if r[1] else messages)

    def edit_turn(self, id: int, turn: int, content: str) -> bool:
        """Replace the text of one turn. Returns False when nothing changed."""
        content = content.replace("\r\n", "\n")  # browsers send CRLF from textareas
        with self.lock:
            messages, original = self._editable(id)
            if not 0 <= turn < len(messages):
                raise ConfigError(f"line {id} has no turn {turn + 1}")
            if messages[turn]["content"] == content:
                return False
            new = [dict(m) for m in messages]
            new[turn]["content"] = content
            op = self._begin_op(f"edit of turn {turn + 1} on line {id}")
            try:
                self._snapshot(op, id)
                self._write_messages(id, new, original)
                self._end_op()
            except BaseException:
                self._rollback()
                raise
            return True

    def revert(self, id: int) -> bool:
        """Put the example back as it was imported. False if it was not edited."""
        with self.lock:
            r = self.con.execute("SELECT original FROM examples WHERE id=?", (id,)).fetchone()
            if r is None or r[0] is None:
                return False
            op = self._begin_op(f"revert of line {id}")
            try:
                self._snapshot(op, id)
                original = orjson.loads(r[0])
                self._write_messages(id, original, original)
                self._end_op()
            except BaseException:
                self._rollback()
                raise
            return True

    def set_deleted(self, id: int, deleted: bool) -> bool:
        with self.lock:
            r = self.con.execute("SELECT deleted FROM examples WHERE id=?", (id,)).fetchone()
            if r is None:
                raise ConfigError(f"there is no example on line {id}")
            if bool(r[0]) == deleted:
                return False
            op = self._begin_op(f"{'deletion' if deleted else 'restore'} of line {id}")
            try:
                self._snapshot(op, id)
                self.con.execute("UPDATE examples SET deleted=? WHERE id=?", (int(deleted), id))
                self._end_op()
            except BaseException:
                self._rollback()
                raise
            return True

    def set_reviewed(self, id: int, reviewed: bool) -> None:
        """A reading mark only: it does not change the saved file, so it is not an undo step."""
        with self.lock:
            self.con.execute("UPDATE examples SET reviewed=? WHERE id=?", (int(reviewed), id))

    def last_op(self) -> str | None:
        with self.lock:
            r = self.con.execute("SELECT label FROM ops ORDER BY id DESC LIMIT 1").fetchone()
        return r[0] if r else None

    def undo(self) -> str | None:
        """Undo the latest change; returns its label, or None if there is nothing to undo."""
        with self.lock:
            r = self.con.execute("SELECT id, label FROM ops ORDER BY id DESC LIMIT 1").fetchone()
            if r is None:
                return None
            op, label = r
            self.con.execute("BEGIN IMMEDIATE")
            try:
                snap = self.con.execute("SELECT example, messages, original, deleted, tokens FROM history WHERE op=?",
                                        (op,)).fetchall()
                for id, messages, original, deleted, tokens in snap:
                    text, first_user, answer = derive(orjson.loads(messages)) if messages else ("", "", "")
                    self.con.execute("UPDATE examples SET messages=?, original=?, deleted=?, tokens=?, text=?, "
                                     "first_user=?, answer=? WHERE id=?",
                                     (messages, original, deleted, tokens, text, first_user, answer, id))
                self.con.execute("DELETE FROM history WHERE op=?", (op,))
                self.con.execute("DELETE FROM ops WHERE id=?", (op,))
                self.con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='version'")
                self.con.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            return label

    # -- find / replace ------------------------------------------------------------------------

    @staticmethod
    def _scan(spec: Replace) -> tuple[str, list]:
        """SQL for the active, readable examples that may contain a match: a cheap pre-filter
        on the casefolded text for case-sensitive literal text (a substring of a turn is a
        substring of its casefolded form); everything else is checked in Python."""
        sql = "SELECT id, messages, first_user FROM examples WHERE deleted=0 AND problem=''"
        params: list = []
        if not spec.regex and spec.case:
            sql += " AND instr(text, ?) > 0"
            params.append(spec.find.casefold())
        return sql + " ORDER BY id", params

    def _matching_ids(self, spec: Replace, pat: re.Pattern) -> list[int]:
        ids = []
        for id, messages, _ in self.con.execute(*self._scan(spec)):
            if any(pat.search(m["content"]) for m in orjson.loads(messages) if not spec.role or m["role"] == spec.role):
                ids.append(id)
        return ids

    def preview(self, spec: Replace, limit: int = 50, hits_per_example: int = 3, context: int = 60) -> Preview:
        """What `replace(spec)` would change: match counts, and the first `limit` examples with
        each match in context. Raises ConfigError for a bad pattern or replacement."""
        pat = spec.pattern()
        out = Preview(spec)
        with self.lock:
            for id, messages, first_user in self.con.execute(*self._scan(spec)):
                n, hits = 0, []
                for i, m in enumerate(orjson.loads(messages)):
                    if spec.role and m["role"] != spec.role:
                        continue
                    for mt in pat.finditer(m["content"]):
                        n += 1
                        if len(hits) < hits_per_example and len(out.items) < limit:
                            c = m["content"]
                            hits.append(Hit(turn=i, role=m["role"],
                                            before=_left(c[max(0, mt.start() - context):mt.start()], mt.start() > context),
                                            old=mt.group(0), new=spec.replacement_for(mt),
                                            after=_right(c[mt.end():mt.end() + context], mt.end() + context < len(c))))
                if n:
                    out.matches += n
                    out.examples += 1
                    if len(out.items) < limit:
                        out.items.append(PreviewItem(id, first_user, n, hits))
        return out

    def replace(self, spec: Replace, expected_examples: int | None = None) -> tuple[int, int]:
        """Apply a find/replace to every active example; returns (matches, examples changed).
        With `expected_examples` (from the preview the author saw), refuses with StaleError when
        the dataset no longer matches that preview."""
        pat = spec.pattern()
        with self.lock:
            ids = self._matching_ids(spec, pat)
            if expected_examples is not None and len(ids) != expected_examples:
                raise StaleError(f"the preview showed {expected_examples} examples but {len(ids)} match now; "
                                 "look at the new preview and apply again")
            if not ids:
                return 0, 0
            shown_find = _collapse(spec.find, 40)
            label = f"replace of “{shown_find}” in {len(ids)} example{'s' if len(ids) != 1 else ''}"
            op = self._begin_op(label)
            total = 0
            try:
                for start in range(0, len(ids), BATCH):
                    chunk = ids[start:start + BATCH]
                    marks = ",".join("?" * len(chunk))
                    rows = self.con.execute(f"SELECT id, messages, original FROM examples WHERE id IN ({marks})",
                                            chunk).fetchall()
                    for id, messages, original in rows:
                        msgs = orjson.loads(messages)
                        new = []
                        for m in msgs:
                            if spec.role and m["role"] != spec.role:
                                new.append(m)
                                continue
                            content, n = spec.apply(pat, m["content"])
                            total += n
                            new.append({**m, "content": content})
                        self._snapshot(op, id)
                        self._write_messages(id, new, orjson.loads(original) if original else msgs)
                self._end_op()
            except BaseException:
                self._rollback()
                raise
            return total, len(ids)

    # -- statistics ----------------------------------------------------------------------------

    def write_current(self, fh) -> int:
        """Write the current dataset (what Save would write) to the binary file `fh`, with an
        empty line in place of each deleted example and each blank line of the original, so
        line numbers in a report on it (flags, phrase lines, duplicate groups) are the line
        numbers the author sees here. Returns the number of examples written."""
        written, at = 0, 0
        with self.lock:
            for id, line in self._output_lines():
                fh.write(b"\n" * (id - at - 1))
                fh.write(line)
                at = id
                written += 1
        return written

    def set_stats(self, version: int, flags_by_id: dict[int, set[str]], report: dict) -> None:
        with self.lock:
            self.con.execute("BEGIN IMMEDIATE")
            try:
                self.con.execute("UPDATE examples SET flags='' WHERE flags != ''")
                self.con.executemany("UPDATE examples SET flags=? WHERE id=?",
                                     [("," + ",".join(sorted(f for f in fl if f in FLAGS)) + ",", id)
                                      for id, fl in flags_by_id.items() if fl])
                self._set_meta("stats", _dumps(report))
                self._set_meta("stats_version", str(version))
                self.con.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def stats(self) -> tuple[dict | None, int | None]:
        """The last statistics report and the data version it describes."""
        with self.lock:
            s, v = self._meta("stats"), self._meta("stats_version")
        return (orjson.loads(s) if s else None), (int(v) if v else None)

    # -- saving --------------------------------------------------------------------------------

    def _check_source(self) -> None:
        fp = Fingerprint.from_json(self._meta("fingerprint"))
        if not _same_file(self.source, fp):
            raise InputError(self.source, "has changed or gone since the review started, so it cannot be "
                             "combined with the edits", f"put the original back; the edits are kept in {self.path}")

    def _out_is_ours(self) -> bool:
        return _same_file(self.out, Fingerprint.from_json(self._meta("saved_fingerprint")))

    def check_out(self) -> None:
        """Fail early (before hours of reviewing) if Save would not be allowed to write."""
        with self.lock:
            if os.path.exists(self.out) and not self.force and not self._out_is_ours():
                raise OutputError(f"{self.out} already exists; use --force to replace it when you save, "
                                  "or choose another --out")

    def _output_lines(self) -> Iterator[tuple[int, bytes]]:
        """(line id, bytes) of the current dataset, in the original order. Unedited lines are
        the original bytes; edited ones are re-serialised with only the changed turns replaced."""
        self._check_source()
        rows = self.con.execute(
            "SELECT id, deleted, fmt, CASE WHEN original IS NULL THEN NULL ELSE messages END, original "
            "FROM examples ORDER BY id")
        row = rows.fetchone()
        with open(self.source, "rb") as f:
            for n, raw in enumerate(f, 1):
                if row is None:
                    break
                if row[0] != n:
                    continue  # a blank line: not an example
                id, deleted, fmt, current, original = row
                row = rows.fetchone()
                if deleted:
                    continue
                if n == 1:
                    raw = raw.removeprefix(BOM)
                if original is None:
                    yield id, raw.rstrip(b"\r\n") + b"\n"
                else:
                    obj = apply_messages(orjson.loads(raw), fmt, orjson.loads(original), orjson.loads(current))
                    yield id, orjson.dumps(obj) + b"\n"
        if row is not None:
            raise InputError(self.source, "is shorter than when the review started", f"the edits are kept in {self.path}")

    def save(self) -> SaveResult:
        """Write the reviewed dataset to `self.out`, atomically. The original is only read."""
        with self.lock:
            if os.path.exists(self.out) and not self.force and not self._out_is_ours():
                raise OutputError(f"{self.out} already exists and was not written by this review; "
                                  "restart with --force to replace it, or with another --out")
            c = self.counts()
            written = 0
            with AtomicFile(self.out, force=True) as fh:
                for _, line in self._output_lines():
                    fh.write(line)
                    written += 1
            self._set_meta("saved_fingerprint", fingerprint(self.out).to_json())
            self._set_meta("saved_version", self._meta("version", "0"))
        return SaveResult(self.out, written, c["deleted"], c["edited"], c["unreadable"])


# ---- row helpers -------------------------------------------------------------------------

def _row_for(n: int, raw: bytes, formats: _Formats) -> tuple:
    try:
        raw.decode("utf-8")
        p = parse_line(raw, formats)
    except UnicodeDecodeError:
        p = Parsed(problem="not UTF-8 text")
    if p.problem:
        shown = raw.decode("utf-8", errors="replace")[:RAW_KEEP_CHARS]
        return (n, "", p.problem, shown, None, shown.casefold(), 0, "", "", "")
    text, first_user, answer = derive(p.messages)
    return (n, p.fmt, "", None, _dumps(p.messages), text, tok.count_messages(p.messages), first_user, answer, p.source)


def _insert(con: sqlite3.Connection, batch: list[tuple]) -> None:
    con.executemany("INSERT INTO examples(id, fmt, problem, raw, messages, text, tokens, first_user, answer, source) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)


def _flags(s: str) -> list[str]:
    return [f for f in FLAGS if f",{f}," in s]


def _row(r) -> Row:
    return Row(id=r[0], tokens=r[1], first_user=r[2], answer=r[3], source=r[4], flags=_flags(r[5]),
               deleted=bool(r[6]), reviewed=bool(r[7]), edited=bool(r[8]), problem=r[9])


def _left(s: str, cut: bool) -> str:
    return ("…" + s) if cut else s


def _right(s: str, cut: bool) -> str:
    return (s + "…") if cut else s


def _remove(path: str) -> None:
    for p in (path, path + "-journal", path + "-wal", path + "-shm"):
        try:
            os.remove(p)
        except FileNotFoundError:
            pass
