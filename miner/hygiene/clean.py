"""`miner clean`: fix a dataset's habits before training, without losing anything silently.

    dataset.jsonl -> per line: replace / redact (in place, any format)
                  -> drop: refusals, too short / too long, exact and near-duplicates
                  -> cleaned JSONL (atomic) + optional rejects file (each dropped line + why)

Edits are made on the raw line through io.edit_texts, so keys a format has beyond the text
(tools, metadata) survive untouched; with --format the cleaned example is converted with the
chosen writer instead. Lines that are not examples (bad JSON, unknown shape) are dropped and
counted like every other drop. Memory is constant except for --dedupe (see dedupe.py).
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from miner import writers
from miner.errors import ConfigError, OutputError
from miner.hygiene import template_text
from miner.hygiene.dedupe import DEFAULT_THRESHOLD, NearDuplicateIndex, exact_key
from miner.hygiene.io import BadLine, Example, edit_texts, iter_lines, to_example
from miner.output import AtomicFile, check_writable
from miner.summary import Summary

# ---- refusals -----------------------------------------------------------------------------

_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "“": '"', "”": '"'})
_LEAD = " \t\r\n\"'*_>-"


def _norm(text: str) -> str:
    return " ".join(text.translate(_QUOTES).casefold().split())


@dataclass
class RefusalMatcher:
    """Phrases from templates/refusals.txt (and --refusals files): anywhere, or ^at the start."""

    anywhere: list[str] = field(default_factory=list)
    at_start: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, extra_files: tuple[str, ...] | list[str] = ()) -> "RefusalMatcher":
        m = cls()
        m.extend(template_text("refusals.txt"))
        for path in extra_files:
            m.extend(template_text("refusals.txt", path))
        return m

    def extend(self, text: str) -> None:
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("^"):
                self.at_start.append(_norm(line[1:]))
            else:
                self.anywhere.append(_norm(line))

    def match(self, text: str) -> str | None:
        """The first phrase found in `text`, or None."""
        t = _norm(text)
        head = t.lstrip(_LEAD)
        for p in self.at_start:
            if p and head.startswith(p):
                return p
        for p in self.anywhere:
            if p and p in t:
                return p
        return None


# ---- PII ----------------------------------------------------------------------------------

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# A phone number: optional +country, then 7-15 digits in groups separated by space, dot, dash or
# parentheses. Years ("1999-2004"), times and plain numbers ("3,000,000") do not fit the shape.
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\w-])")
_SECRET_KEYS = ("token", "key", "secret", "sig", "signature", "password", "passwd", "pwd", "auth", "session",
                "sid", "code", "credential", "access", "apikey", "jwt")
URL = re.compile(r"\bhttps?://[^\s<>\"')\]]+", re.IGNORECASE)


def _is_phone(s: str) -> bool:
    digits = sum(c.isdigit() for c in s)
    if not 7 <= digits <= 15:
        return False
    # "2019-2020", "10.5.2023", "1.2.3": dates and versions, not phones
    if re.fullmatch(r"\d{4}[-/.]\d{2,4}|\d{1,4}[./-]\d{1,2}[./-]\d{2,4}", s.strip()):
        return False
    return True


def _url_has_secret(url: str) -> bool:
    q = url.split("?", 1)[1] if "?" in url else ""
    for pair in re.split(r"[&;#]", q):
        name = pair.split("=", 1)[0].casefold()
        if "=" in pair and any(k in name for k in _SECRET_KEYS):
            return True
    return False


def redact_pii(text: str) -> tuple[str, int]:
    """Emails -> [EMAIL], phone numbers -> [PHONE], URLs carrying tokens/keys in their query
    string -> [URL]. Returns the new text and how many were replaced. Names are left alone."""
    n = 0

    def url(m: re.Match) -> str:
        nonlocal n
        if _url_has_secret(m.group(0)):
            n += 1
            return "[URL]"
        return m.group(0)

    def email(m: re.Match) -> str:
        nonlocal n
        n += 1
        return "[EMAIL]"

    def phone(m: re.Match) -> str:
        nonlocal n
        if _is_phone(m.group(0)):
            n += 1
            return "[PHONE]"
        return m.group(0)

    text = URL.sub(url, text)
    text = EMAIL.sub(email, text)
    text = PHONE.sub(phone, text)
    return text, n


# ---- replacements -------------------------------------------------------------------------

@dataclass
class Replacement:
    old: str
    new: str
    regex: re.Pattern | None = None

    def apply(self, text: str) -> tuple[str, int]:
        if self.regex is not None:
            try:
                return self.regex.subn(self.new, text)
            except (re.error, IndexError) as e:  # a bad \N group reference in NEW shows on first match
                raise ConfigError(f"--replace-re {self.old}=>{self.new}: bad replacement ({e})") from None
        n = text.count(self.old)
        return (text.replace(self.old, self.new), n) if n else (text, 0)


def parse_replacement(spec: str, regex: bool = False) -> Replacement:
    """"OLD=>NEW" (NEW may be empty). With regex=True, OLD is a Python regular expression and
    NEW may use \\1 or \\g<name>."""
    flag = "--replace-re" if regex else "--replace"
    if "=>" not in spec:
        raise ConfigError(f"{flag} {spec!r}: write it as OLD=>NEW, e.g. {flag} \"Willow Creek=>Ashford\" "
                          "(leave NEW empty to delete)")
    old, new = spec.split("=>", 1)
    if not old:
        raise ConfigError(f"{flag} {spec!r}: the text to replace (before =>) is empty")
    if not regex:
        return Replacement(old, new)
    try:
        pat = re.compile(old, re.MULTILINE)
    except re.error as e:
        raise ConfigError(f"{flag} {spec!r}: not a valid regular expression or replacement ({e})") from None
    return Replacement(old, new, pat)


# ---- the run ------------------------------------------------------------------------------

ROLE_SETS = {"assistant": {"assistant"}, "user": {"user"}, "all": {"system", "user", "assistant", "tool"}}


@dataclass
class CleanOptions:
    replace: list[Replacement] = field(default_factory=list)
    scope: str = "assistant"  # assistant | user | all: where replacements apply
    drop_refusals: bool = False
    refusal_files: tuple[str, ...] = ()
    dedupe: bool = False
    threshold: float = DEFAULT_THRESHOLD
    min_tokens: int | None = None
    max_tokens: int | None = None
    redact_pii: bool = False
    format: str | None = None  # output format; None = same as input, line by line
    rejects: str | None = None
    force: bool = False


def clean_file(path: str, out: str, opts: CleanOptions, progress: Callable[..., None] | None = None) -> Summary:
    """Write the cleaned dataset to `out` (atomically) and return what was kept and dropped.

    >>> s = clean_file("wlm.jsonl", "wlm.clean.jsonl", CleanOptions(dedupe=True, drop_refusals=True))
    >>> s.counts["kept"], dict(s.skips)
    """
    if opts.scope not in ROLE_SETS:
        raise ConfigError(f"--in must be one of: {', '.join(ROLE_SETS)}")
    if opts.min_tokens and opts.max_tokens and opts.min_tokens > opts.max_tokens:
        raise ConfigError(f"--min-tokens {opts.min_tokens} is larger than --max-tokens {opts.max_tokens}")
    for target in filter(None, (out, opts.rejects)):
        if os.path.abspath(target) == os.path.abspath(path):
            raise OutputError(f"{target} is the input file; write the cleaned copy under another name")
    check_writable(out, opts.force)
    if opts.rejects:
        check_writable(opts.rejects, opts.force)
    out_mod = writers.get(opts.format) if opts.format else None
    refusals = RefusalMatcher.load(opts.refusal_files) if opts.drop_refusals else None
    index = NearDuplicateIndex(opts.threshold) if opts.dedupe else None
    seen: set[int] = set()
    summary = Summary(title=f"miner clean {os.path.basename(path)}")
    step = _Step(opts, refusals, index, seen, out_mod, summary)
    rej_ctx = AtomicFile(opts.rejects, force=opts.force) if opts.rejects else None
    with AtomicFile(out, force=opts.force) as fh:
        rej = rej_ctx.__enter__() if rej_ctx else None
        try:
            for ln in iter_lines(path):
                if ln.blank:
                    continue
                summary.add("lines read")
                result, reason, detail = step.run(ln)
                if result is not None:
                    fh.write(orjson.dumps(result) + b"\n")
                    summary.add("kept")
                else:
                    summary.skip(reason, f"{path}:{ln.number}", detail)
                    if rej is not None:
                        rej.write(_reject_line(ln, reason, detail))
                if progress:
                    progress(1)
        except BaseException as e:
            if rej_ctx:
                rej_ctx.__exit__(type(e), e, e.__traceback__)
            raise
        if rej_ctx:
            rej_ctx.__exit__(None, None, None)
    for key, n in step.edits.items():
        summary.info[key] = n
    summary.info["output"] = out
    if opts.rejects:
        summary.info["rejects"] = opts.rejects
    elif summary.skips:
        summary.note("dropped lines are not saved; add --rejects FILE to keep them with the reason")
    if index is not None:
        summary.note(f"near-duplicates: word 3-gram Jaccard >= {opts.threshold} on the assistant text; "
                     "the first of each group is kept")
    return summary


def _reject_line(ln, reason: str, detail: str) -> bytes:
    rec = {"line": ln.number, "reason": reason, "detail": detail}
    if ln.obj is not None:
        rec["example"] = ln.obj
    else:
        rec["raw"] = ln.raw.decode("utf-8", errors="replace")
    return orjson.dumps(rec) + b"\n"


class _Step:
    """One line through the cleaning steps; returns (line to write | None, reason, detail)."""

    def __init__(self, opts: CleanOptions, refusals, index, seen, out_mod, summary):
        self.opts, self.refusals, self.index, self.seen, self.out_mod = opts, refusals, index, seen, out_mod
        self.roles = ROLE_SETS[opts.scope]
        self.edits: dict[str, int] = {}

    def _count(self, key: str, n: int) -> None:
        if n:
            self.edits[key] = self.edits.get(key, 0) + n

    def _edit(self, role: str, text: str) -> str:
        if role in self.roles:
            for r in self.opts.replace:
                text, n = r.apply(text)
                self._count("replacements made", n)
        if self.opts.redact_pii:
            text, n = redact_pii(text)
            self._count("PII redacted", n)
        return text

    def run(self, ln):
        ex = to_example(ln)
        if isinstance(ex, BadLine):
            return None, ex.reason, ex.detail
        assert isinstance(ex, Example)
        if self.opts.replace or self.opts.redact_pii:
            edited = edit_texts(ex.obj, ex.fmt.NAME, self._edit)
            if edited != ex.obj:
                ex = Example(ex.line, edited, ex.fmt, ex.fmt.read(edited), raw=b"")
        answer = ex.assistant_text()
        if not answer.strip():
            return None, "empty answer", "no assistant text left to train on"
        if self.refusals is not None:
            hit = self.refusals.match(answer)
            if hit:
                return None, "refusal", f"matched {hit!r}"
        n = ex.tokens() if (self.opts.min_tokens or self.opts.max_tokens) else 0
        if self.opts.min_tokens and n < self.opts.min_tokens:
            return None, "too short", f"{n} tokens < --min-tokens {self.opts.min_tokens}"
        if self.opts.max_tokens and n > self.opts.max_tokens:
            return None, "too long", f"{n} tokens > --max-tokens {self.opts.max_tokens}"
        if self.index is not None:
            dup = self._duplicate(ex, answer)
            if dup:
                return None, dup[0], dup[1]
        if self.out_mod is None:
            return ex.obj, "", ""
        if ex.is_preference != (self.out_mod.KIND == "preference"):
            kind = "a preference pair" if ex.is_preference else "a conversation"
            return None, "cannot convert", f"{kind} cannot be written as {self.out_mod.NAME}"
        try:
            return self.out_mod.render(ex.item), "", ""
        except writers.FormatError as e:
            return None, f"not expressible as {self.out_mod.NAME}", str(e)

    def _duplicate(self, ex: Example, answer: str):
        key = exact_key(f"{m.role}\x00{m.content}" for m in ex.messages())
        if ex.is_preference:
            key ^= exact_key([ex.item.rejected.content])
        if key in self.seen:
            return "duplicate", "same text as an earlier example"
        self.seen.add(key)
        sig = self.index.signature(answer)
        if sig is None:
            return None
        hits = self.index.matches(sig)
        if hits:
            return "near-duplicate", f"assistant text nearly the same as line {hits[0]}"
        self.index.add(ex.line, sig)
        return None
