"""The chat pipeline: inputs -> parsers -> transforms -> (retry collapse) -> writer.

    iter_conversations(paths)   files, folders, ZIPs -> Conversation / Preference, with skips
                                counted in a Summary
    convert(paths, out, opts)   the above, cleaned, filtered, collapsed and written as JSONL
    inspect(paths)              what each input is and what is in it, without writing

Everything streams: one conversation at a time is read, and only a bounded number of batches
of them are with worker processes (miner.parallel) at once.
"""
from __future__ import annotations

import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from . import parallel, tokens, transforms, writers
from .errors import ConfigError, InputError, MinerError, UnknownFormat
from .models import ROLES, Conversation, Preference, Skip
from .output import JsonlWriter, check_writable, jsonl_line
from .sources import Entry, iter_entries
from .summary import Summary

Progress = Callable[..., None]

# What reading a damaged file or archive member can raise besides our own errors.
READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, UnicodeError)


@dataclass
class ConvertOptions:
    format: str = "openai"
    system: str | None = None
    attachments: bool = False
    artifacts: bool = False
    collapse: bool = True
    retry_rules: str | None = None
    all_drafts: bool = False
    max_tokens: int | None = None
    long: str = "split"  # or "drop"
    min_turns: int = 1
    since: float | None = None
    until: float | None = None
    title_match: str | None = None
    force: bool = False
    extra: dict = field(default_factory=dict)
    # --retry-detector llm (miner.retries_llm): an LLM judges short follow-ups and folds chains
    retry_detector: str = "offline"  # or "llm"
    provider: str | None = None  # openai (default) or gemini
    model: str = ""
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # library callers only; the CLI reads keys from the environment
    cache: str | None = None
    no_cache: bool = False
    retry_max_words: int = 60  # longer follow-ups are decided offline
    jobs: int = 1  # worker processes; 0 = one per CPU (miner.parallel.auto_jobs); 1 = none
    parallel_min_bytes: int = 8 << 20  # smaller inputs are done in-process: workers take ~0.4 s to start


def iter_conversations(paths: list[str], summary: Summary, attachments: bool = False,
                       progress: Progress | None = None, artifacts: bool = False) -> Iterator[Conversation | Preference]:
    """Every conversation (or preference pair, from DPO JSONL) in `paths`.

    Unreadable files and broken conversations are counted in `summary` and skipped; a path
    that does not exist raises InputError. An archive with no chat data in it is reported.
    """
    from miner import parsers

    opts = parsers.ParseOptions(attachments=attachments, extra={"artifacts": artifacts})
    found_by_root: dict[str, int] = {}
    containers: set[str] = set()  # roots that are folders or archives, not single files
    roots: list[str] = []

    def on_skip(where: str, reason: str) -> None:
        summary.skip("unreadable file", where, reason)

    for entry in iter_entries(paths, on_skip=on_skip):
        if entry.root not in found_by_root:
            found_by_root[entry.root] = 0
            roots.append(entry.root)
        if entry.name != entry.root:
            containers.add(entry.root)
        try:
            mod = parsers.detect(entry, kind="chat")
        except UnknownFormat as e:
            if "!" in entry.name:
                summary.add("archive files ignored (not chat data)")
            else:
                summary.skip("not a chat export", entry.name, e.reason)
            continue
        except InputError as e:
            summary.skip("unreadable file", entry.name, e.reason)
            continue
        found_by_root[entry.root] += 1
        summary.add("files read")
        summary.info.setdefault("formats", "")
        if mod.LABEL not in summary.info["formats"]:
            summary.info["formats"] = ", ".join(x for x in [summary.info["formats"], mod.LABEL] if x)
        try:
            for item in mod.parse(entry, opts):
                if isinstance(item, Skip):
                    summary.skip(item.reason, item.where, item.detail)
                    continue
                summary.add("conversations read")
                if isinstance(item, Conversation):
                    if item.meta.get("fallback_leaf"):
                        summary.add("branch chosen by newest leaf (no current node)")
                    for k, v in (item.meta.get("dropped") or {}).items():
                        d = summary.info.setdefault("messages dropped (hidden, tools, ...)", {})
                        d[k] = d.get(k, 0) + v
                if progress:
                    progress(1)
                yield item
        except MinerError as e:
            summary.skip("unreadable file", entry.name, str(e))
        except READ_ERRORS as e:
            summary.skip("unreadable file", entry.name, f"{type(e).__name__}: {e}")
        except Exception as e:  # a parser bug must not sink the other files of the run
            if os.environ.get("MINER_DEBUG") == "1":
                raise
            summary.skip("internal error while reading (please report it)", entry.name, f"{type(e).__name__}: {e}")
    # A ZIP or folder that held nothing we could read is almost always the wrong file.
    for root in roots:
        if found_by_root[root] == 0 and root in containers:
            summary.skip("no chat data found", root,
                         "no conversations.json (ChatGPT/Claude) or chat JSONL inside; "
                         "is this the export ZIP as downloaded?")


def convert(paths: list[str], out: str, options: ConvertOptions, progress: Progress | None = None) -> Summary:
    """Read chat inputs and write one training line per conversation (or preference pair)."""
    writer = writers.get(options.format)
    check_writable(out, options.force)
    title_re = _compile(options.title_match)
    summary = Summary(title=f"miner convert -> {out}")
    rules = _retry_rules(options) if options.collapse or writer.KIND == "preference" else None
    detector = _retry_detector(options, rules)
    try:
        return _convert(paths, out, options, progress, writer, title_re, summary, rules, detector)
    finally:
        if detector is not None:
            detector.close()
            detector.report(summary)


def _convert(paths, out, options, progress, writer, title_re, summary, rules, detector) -> Summary:
    jobs = options.jobs or parallel.auto_jobs()
    if detector is not None or _input_bytes(paths) < options.parallel_min_bytes:
        jobs = 1  # the LLM detector waits on the network, not the CPU; small inputs are quick anyway
    with (JsonlWriter(out, force=options.force) as w,
          _Stage(options, writer, rules, title_re, detector, jobs, summary) as stage):
        for item in iter_conversations(paths, summary, options.attachments, progress, options.artifacts):
            for lines in stage.feed(item):
                w.write_lines(lines)
        for lines in stage.finish():
            w.write_lines(lines)
        if w.lines == 0:
            # Nothing usable: leave no empty file behind and let the CLI exit non-zero.
            _order(summary)
            raise NothingWritten(summary)
    summary.counts["messages"] += 0
    summary.counts["tokens"] += 0
    _order(summary)
    return summary


def _input_bytes(paths: list[str]) -> int:
    """Bytes on disk under `paths` (compressed, for archives): decides whether workers pay off."""
    total = 0
    for p in paths:
        files = [os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs] if os.path.isdir(p) else [p]
        for f in files:
            try:
                total += os.stat(f).st_size
            except OSError:
                pass  # reported when the file is read
    return total


class _Stage:
    """Turns parsed items into output lines, in this process or in `jobs` worker processes
    (miner.parallel), always in input order; what they add to the summary (written, skipped,
    tokens) goes into `summary`."""

    BATCH_ITEMS = 32
    BATCH_CHARS = 1 << 20

    def __init__(self, o: ConvertOptions, writer, rules, title_re, detector, jobs: int, summary: Summary):
        self.o, self.writer, self.rules, self.title_re, self.detector = o, writer, rules, title_re, detector
        self.summary = summary
        self.pool: parallel.OrderedPool | None = None
        if jobs > 1:
            # workers get the rules as loaded (a --retry-rules file is read once) and no API key
            args = (replace(o, api_key=None), rules)
            try:
                self.pool = parallel.OrderedPool(_render_batch, jobs, _worker_setup, args)
            except (OSError, ImportError, NotImplementedError, RuntimeError, AssertionError,
                    parallel.BrokenProcessPool) as e:
                # no /dev/shm or semaphores, a temp folder path too long for a socket, a library
                # caller's script without `if __name__ == "__main__":`, a daemon process (which
                # multiprocessing forbids to have children: an AssertionError), ...
                summary.note(f"worker processes could not start here ({e}); converted in one process")
        self.batch: list = []
        self.chars = 0

    def feed(self, item) -> Iterator[list[bytes]]:
        if self.pool is None:
            yield _render(item, self.o, self.writer, self.rules, self.title_re, self.detector, self.summary)
            return
        self.batch.append(item)
        self.chars += _size(item)
        if len(self.batch) >= self.BATCH_ITEMS or self.chars >= self.BATCH_CHARS:
            yield from self._merged(self.pool.submit(self._take()))

    def finish(self) -> Iterator[list[bytes]]:
        if self.pool is not None:
            if self.batch:
                yield from self._merged(self.pool.submit(self._take()))
            yield from self._merged(self.pool.drain())

    def _merged(self, results) -> Iterator[list[bytes]]:
        for lines, part in results:
            self.summary.merge(part)
            yield lines

    def _take(self) -> list:
        batch, self.batch, self.chars = self.batch, [], 0
        return batch

    def __enter__(self) -> "_Stage":
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.close()


def _size(item) -> int:
    msgs = item.messages if isinstance(item, Conversation) else [*item.prompt, item.chosen, item.rejected]
    return sum(len(m.content) if isinstance(m.content, str) else 1000 for m in msgs)


_WORKER: tuple | None = None


def _worker_setup(o: ConvertOptions, rules) -> None:
    """Runs once in each worker process: what _render needs."""
    global _WORKER
    _WORKER = (o, writers.get(o.format), rules, _compile(o.title_match), None)


def _render_batch(items: list) -> tuple[list[bytes], Summary]:
    part = Summary()
    lines: list[bytes] = []
    for item in items:
        lines.extend(_render(item, *_WORKER, part))  # type: ignore[misc]
    return lines, part


def _render(item, o: ConvertOptions, writer, rules, title_re, detector, summary: Summary) -> list[bytes]:
    """The output lines for one parsed item; what was written, skipped and counted goes to
    `summary` (examples or pairs written, messages, tokens)."""
    if isinstance(item, Preference):
        line = _pair_line(writer, item, summary, o)
        return [line] if line else []
    lines = []
    for example, pairs, counted in _prepare(item, o, rules, title_re, summary, detector):
        if writer.KIND == "preference":
            lines.extend(x for x in (_pair_line(writer, p, summary, o) for p in pairs) if x)
            if not pairs:
                summary.add("conversations without a retry chain (no pair)")
            continue
        try:
            line = jsonl_line(writer.render(example))
        except writers.FormatError as e:
            summary.skip(f"cannot be written as {o.format}", _where(example), str(e))
            continue
        lines.append(line)
        summary.add("examples written")
        summary.add("messages", len(example.messages))
        summary.add("tokens", counted if counted is not None else tokens.count_messages(example.messages))
    return lines


class NothingWritten(MinerError):
    def __init__(self, summary: Summary):
        self.summary = summary
        super().__init__("no examples were written; see the skipped reasons above")


def _prepare(conv: Conversation, o: ConvertOptions, rules, title_re, summary: Summary, detector=None):
    """Clean, filter, collapse and size one conversation. Yields (example, pairs, its token
    count if already known)."""
    bad_roles = sorted({m.role for m in conv.messages if m.role not in ROLES})
    if bad_roles:
        summary.skip("unknown message role", _where(conv), f"roles {', '.join(map(repr, bad_roles))}; "
                     "use system, user, assistant or tool")
        return
    conv = replace(conv, messages=transforms.normalize(conv.messages))
    conv = transforms.trim_to_trainable(conv)
    if not transforms.has_assistant(conv):
        summary.skip("no assistant turn after cleaning", _where(conv))
        return
    why = transforms.passes_filters(conv, since=o.since, until=o.until, title_re=title_re, min_turns=o.min_turns)
    if why:
        summary.skip(f"filtered: {why}", _where(conv))
        return
    pairs: list[Preference] = []
    if rules is not None:
        from miner import retries

        if detector is not None:
            res = detector.collapse(conv, all_drafts=o.all_drafts)
        else:
            res = retries.collapse(conv, rules, all_drafts=o.all_drafts)
        if res.chains:
            summary.add("retry chains found", len(res.chains))
            if o.collapse:
                summary.add("retry chains collapsed", len(res.chains))
                conv = res.conversation
        pairs = [_with_system_pair(p, o.system) for p in res.pairs]
    conv = transforms.with_system(conv, o.system)
    n = tokens.count_messages(conv.messages) if o.max_tokens else None
    if n is not None and n > o.max_tokens:
        if o.long == "drop":
            summary.skip("over --max-tokens (dropped)", _where(conv))
            return
        parts, dropped = transforms.split_long(conv, o.max_tokens)
        summary.add("long conversations split", 1)
        if dropped:
            summary.add("exchanges dropped (one exchange over --max-tokens)", dropped)
        if not parts:
            summary.skip("over --max-tokens (no exchange fits)", _where(conv))
            return
        for i, part in enumerate(parts):
            yield part, pairs if i == 0 else [], None
        return
    yield conv, pairs, n


def _with_system_pair(p: Preference, system: str | None) -> Preference:
    if not system:
        return p
    prompt = [m for m in p.prompt if m.role != "system"]
    from .models import Message

    return replace(p, prompt=[Message("system", system)] + prompt)


def _pair_line(writer, pair: Preference, summary: Summary, o: ConvertOptions) -> bytes | None:
    if writer.KIND != "preference":
        summary.skip(f"preference pair cannot be written as {o.format}", pair.id or pair.source,
                     "use --format openai-dpo or trl-preference")
        return None
    bad = sorted({m.role for m in pair.prompt if m.role not in ROLES})
    if bad or not pair.chosen.content.strip() or not pair.rejected.content.strip():
        summary.skip("malformed preference pair", pair.id or pair.source,
                     f"unknown roles {', '.join(map(repr, bad))}" if bad else "an empty answer")
        return None
    try:
        line = jsonl_line(writer.render(pair))
    except writers.FormatError as e:
        summary.skip(f"cannot be written as {o.format}", pair.id or pair.source, str(e))
        return None
    summary.add("preference pairs written")
    summary.add("tokens", tokens.count_messages(pair.prompt + [pair.chosen, pair.rejected]))
    return line


def _retry_rules(o: ConvertOptions):
    try:
        from miner import retries
    except ImportError:  # pragma: no cover - the module ships with miner
        return None
    return retries.load_rules(o.retry_rules)


def _retry_detector(o: ConvertOptions, rules):
    """The LLM retry detector for --retry-detector llm; None when detecting offline or when
    nothing is collapsed or paired (then no LLM is needed)."""
    if o.retry_detector == "offline" and not (o.provider or o.model or o.base_url):
        return None
    from miner import retries_llm

    retries_llm.check_options(o.retry_detector, o.provider, o.model, o.base_url, o.retry_max_words)
    if rules is None or o.retry_detector != "llm":
        return None
    return retries_llm.LLMDetector(rules, retries_llm.LLMSettings(
        provider=o.provider or "openai", model=o.model, base_url=o.base_url, api_key=o.api_key, cache=o.cache,
        no_cache=o.no_cache, max_words=o.retry_max_words))


def _compile(pattern: str | None):
    if not pattern:
        return None
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as e:
        raise ConfigError(f"--title-match {pattern!r} is not a valid regular expression: {e}") from None


def _where(conv: Conversation) -> str:
    label = conv.title or conv.id or "?"
    return f"{conv.source} conversation {label!r}" if conv.source else f"conversation {label!r}"


_ORDER = ["files read", "conversations read", "examples written", "preference pairs written", "messages", "tokens",
          "archive files ignored (not chat data)", "retry chains found", "retry chains collapsed",
          "conversations without a retry chain (no pair)", "long conversations split",
          "exchanges dropped (one exchange over --max-tokens)", "branch chosen by newest leaf (no current node)"]


def _order(summary: Summary) -> None:
    # a fixed order, so the table reads the same whatever order workers reported in: known
    # counts first, then the rest by name; skip reasons by how often, then by name
    ordered = {k: summary.counts[k] for k in _ORDER if k in summary.counts}
    ordered.update({k: summary.counts[k] for k in sorted(summary.counts) if k not in ordered})
    reasons = sorted(summary.skips, key=lambda r: (-summary.skips[r], r))
    skips = {r: summary.skips[r] for r in reasons}
    summary.skips.clear()
    summary.skips.update(skips)
    examples = {r: summary.skip_examples[r] for r in reasons if r in summary.skip_examples}
    examples.update({r: v for r, v in summary.skip_examples.items() if r not in examples})
    summary.skip_examples.clear()
    summary.skip_examples.update(examples)
    summary.counts.clear()
    summary.counts.update(ordered)


# ---- inspect --------------------------------------------------------------------------------

def inspect(paths: list[str], progress: Progress | None = None) -> tuple[list[dict], Summary]:
    """Describe every input file: its format and what it holds. Nothing is written."""
    from miner import parsers

    summary = Summary(title="miner inspect")
    rows: list[dict] = []
    opts = parsers.ParseOptions()

    def on_skip(where: str, reason: str) -> None:
        rows.append({"file": where, "format": "unreadable", "detail": reason})
        summary.skip("unreadable", where, reason)

    for entry in iter_entries(paths, on_skip=on_skip):
        try:
            mod = parsers.detect(entry)
        except InputError as e:
            rows.append({"file": entry.name, "format": "not used", "detail": e.reason})
            if "!" in entry.name:
                summary.add("archive files not used (images, account data, ...)")
            else:
                summary.skip("unsupported", entry.name, e.reason)
            continue
        row = {"file": entry.name, "format": mod.LABEL, "kind": mod.KIND, "bytes": entry.size}
        try:
            row.update(_describe(mod, entry, opts))
        except MinerError as e:
            row["detail"] = str(e)
            summary.skip("unreadable", entry.name, str(e))
        except READ_ERRORS as e:
            row["detail"] = f"{type(e).__name__}: {e}"
            summary.skip("unreadable", entry.name, row["detail"])
        except Exception as e:  # a parser bug must not end the inspection of the other files
            if os.environ.get("MINER_DEBUG") == "1":
                raise
            row["detail"] = f"internal error while reading (please report it): {type(e).__name__}: {e}"
            summary.skip("internal error while reading (please report it)", entry.name, str(e))
        rows.append(row)
        summary.add("files read")
        if progress:
            progress(1)
    return rows, summary


def _describe(mod, entry: Entry, opts) -> dict:
    n = msgs = toks = skipped = 0
    if mod.KIND == "chat":
        for item in mod.parse(entry, opts):
            if isinstance(item, Skip):
                skipped += 1
                continue
            n += 1
            if isinstance(item, Conversation):
                ms = transforms.normalize(item.messages)
                msgs += len(ms)
                toks += tokens.count_messages(ms)
        return {"conversations": n, "messages": msgs, "tokens": toks, "skipped": skipped}
    words = 0
    for item in mod.parse(entry, opts):
        if isinstance(item, Skip):
            skipped += 1
            continue
        n += 1
        for b in item.blocks:
            if b.kind == "paragraph":
                words += len(b.text.split())
                toks += tokens.count(b.text)
    return {"documents": n, "words": words, "tokens": toks, "skipped": skipped}
