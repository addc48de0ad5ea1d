"""Markdown notes and manuscripts (.md): Obsidian vaults, Notion and Apple Notes exports,
Pandoc manuscripts.

Where it sits: sources -> parsers.detect -> here -> Document -> chunking.

Read: YAML front matter -> Document.meta (never prose); # headings as sections (the first
H1 is also the title when the front matter has none); paragraphs, list items (kept as
"- item" lines, tasks as "- [ ] item"), block quotes, tables (one line per row), code;
"---"/"***" thematic breaks as scene breaks. Obsidian [[Note]] -> "Note", [[Note|alias]] ->
"alias", [[Note#Part]] -> "Note > Part"; Markdown links keep their text.
Dropped: ![[embeds]] and images, %%comments%%, HTML comments, link targets, emphasis marks,
Notion's " <32-hex-id>" suffix on titles and headings.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from miner.documents import (clean_text, heading_level, is_scene_break, read_text, reflow, strip_notion_id,
                             title_from_name)
from miner.models import Block, Document

NAME = "markdown"
KIND = "document"
LABEL = "Markdown"
SUFFIXES = (".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdwn", ".mdx")

_FRONT = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_EMBED = re.compile(r"!\[\[[^\]\n]*\]\]")
_WIKILINK = re.compile(r"\[\[([^\]\n]+?)\]\]")
_COMMENT = re.compile(r"%%.*?%%", re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_CALLOUT = re.compile(r"^(\s*>\s*)\[![\w-]+\][+-]?\s*", re.MULTILINE)
_HIGHLIGHT = re.compile(r"==(?=\S)(.+?)(?<=\S)==")


def sniff(s) -> bool:
    # Markdown has no signature: the suffix decides (a binary .md is claimed so the user is
    # told it is binary rather than "unsupported").
    return s.suffix in SUFFIXES


def split_front_matter(text: str) -> tuple[dict, str]:
    """(front matter as a dict, the rest). YAML that does not parse to a mapping is not front
    matter (a manuscript may well open with a --- rule); nor is YAML only a hostile file has
    (see _plain)."""
    import yaml

    m = _FRONT.match(text)
    if not m:
        return {}, text
    try:
        try:
            data = yaml.safe_load(m.group(1))
        except ValueError:  # an impossible date ("2024-02-30"): keep the dates as written
            data = yaml.load(m.group(1), Loader=_text_dates_loader())  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, RecursionError, ValueError):  # PyYAML composes nested values recursively
        return {}, text
    if not isinstance(data, dict):
        return {}, text
    try:
        budget = [FRONT_MATTER_VALUES]
        return {str(k): _plain(v, budget, set()) for k, v in data.items()}, text[m.end():]
    except _Unusable:
        return {}, text


def _text_dates_loader():
    import yaml

    class TextDates(yaml.SafeLoader):
        """SafeLoader that leaves timestamps as the text the author typed."""

    TextDates.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)
    return TextDates


FRONT_MATTER_VALUES = 10_000  # real front matter holds a few dozen values


class _Unusable(Exception):
    """YAML aliases can make a value that contains itself, or a few lines that expand into
    billions of values ("billion laughs"): neither is front matter a person wrote."""


def _plain(v, budget: list[int], path: set[int]):
    """Front-matter values as JSON-friendly data (YAML dates become ISO strings). Raises
    _Unusable past FRONT_MATTER_VALUES values, 100 levels, or on a value inside itself."""
    budget[0] -= 1
    if budget[0] < 0 or len(path) > 100:
        raise _Unusable
    if isinstance(v, (dict, list, tuple)):
        if id(v) in path:
            raise _Unusable
        path = path | {id(v)}
        if isinstance(v, dict):
            return {str(k): _plain(x, budget, path) for k, x in v.items()}
        return [_plain(x, budget, path) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def _wikilink(m: re.Match) -> str:
    inner = m.group(1)
    if "|" in inner:
        return inner.split("|", 1)[1].strip()
    target = inner.split("^", 1)[0]
    note, _, heading = target.partition("#")
    note, heading = note.strip(), heading.strip()
    if note and heading:
        return f"{note} > {heading}"
    return note or heading or inner


def obsidian_to_markdown(text: str) -> str:
    """Obsidian-only syntax -> plain Markdown: embeds and comments out, wikilinks to their
    display text, callout markers and ==highlights== to plain text."""
    text = _COMMENT.sub("", text)
    text = _HTML_COMMENT.sub("", text)
    text = _EMBED.sub("", text)
    text = _WIKILINK.sub(_wikilink, text)
    text = _CALLOUT.sub(r"\1", text)
    return _HIGHLIGHT.sub(r"\1", text)


def _inline_text(token) -> str:
    """Plain text of an inline token: emphasis marks, link targets and images dropped."""
    out: list[str] = []
    for child in token.children or []:
        t = child.type
        if t in ("text", "code_inline"):
            out.append(child.content)
        elif t == "softbreak":
            out.append("\n")  # kept for now; _para_text decides whether the lines are prose or verse
        elif t == "hardbreak":
            out.append("\n")
        elif t == "html_inline":
            if re.match(r"<br\s*/?>", child.content, re.IGNORECASE):
                out.append("\n")
    return "".join(out)  # images, emphasis and link markers add no text


def _para_text(raw: str) -> str:
    # A paragraph wrapped at a fixed width in the source is one paragraph of prose: reflow it.
    # One whose lines are short on purpose (verse, an address) keeps its line breaks.
    lines = [ln for ln in raw.split("\n") if ln.strip()]
    if len(lines) > 1 and all(len(ln) >= 60 for ln in lines[:-1]):
        return reflow(raw)
    return clean_text(raw)


def blocks_from_markdown(text: str) -> list[Block]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    tokens = md.parse(text)
    src_lines = text.split("\n")
    blocks: list[Block] = []
    list_stack: list[dict] = []  # {"ordered": bool, "n": int}
    item_lines: list[str] = []
    in_item = 0
    fresh_item = False
    quote = 0
    table_row: list[str] | None = None
    table_lines: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        t = tok.type
        if t == "heading_open":
            inline = tokens[i + 1]
            title = " ".join(clean_text(_inline_text(inline)).split())
            if title:
                blocks.append(Block("heading", strip_notion_id(title), int(tok.tag[1])))
            i += 3
            continue
        if t in ("bullet_list_open", "ordered_list_open"):
            list_stack.append({"ordered": t == "ordered_list_open", "n": int(tok.attrGet("start") or 1)})
        elif t in ("bullet_list_close", "ordered_list_close"):
            list_stack.pop()
            if not list_stack and item_lines:
                blocks.append(Block("paragraph", "\n".join(item_lines)))
                item_lines = []
        elif t == "list_item_open":
            in_item += 1
            top = list_stack[-1]
            marker = f"{top['n']}." if top["ordered"] else "-"
            top["n"] += 1
            indent = "  " * (len(list_stack) - 1)
            item_lines.append(f"{indent}{marker} ")
            fresh_item = True
        elif t == "list_item_close":
            in_item -= 1
        elif t == "blockquote_open":
            quote += 1
        elif t == "blockquote_close":
            quote -= 1
        elif t == "tr_open":
            table_row = []
        elif t == "tr_close":
            if table_row is not None and any(c.strip() for c in table_row):
                table_lines.append(" | ".join(c.strip() for c in table_row))
            table_row = None
        elif t == "table_close":
            if table_lines:
                blocks.append(Block("paragraph", "\n".join(table_lines)))
            table_lines = []
        elif t == "inline":
            raw = _inline_text(tok)
            if table_row is not None:
                table_row.append(" ".join(raw.split()))
            elif in_item and item_lines:
                text = " ".join(_para_text(raw).split("\n")) if raw else ""
                if fresh_item:
                    item_lines[-1] += text  # the item's first paragraph follows its marker
                    fresh_item = False
                elif text:
                    item_lines.append("  " * len(list_stack) + text)
            else:
                text = _para_text(raw)
                if text:
                    if is_scene_break(text):
                        blocks.append(Block("break", text))
                    elif "\n" not in text and not quote and heading_level(text, bare_numbers=False):
                        blocks.append(Block("heading", text, 1))
                    else:
                        blocks.append(Block("paragraph", text))
        elif t in ("fence", "code_block"):
            code = tok.content.rstrip("\n")
            if code.strip():
                target = item_lines if in_item else None
                if target is not None:
                    target.append(code)
                    fresh_item = False
                else:
                    blocks.append(Block("paragraph", code))
        elif t == "hr":
            marker = src_lines[tok.map[0]].strip() if tok.map and tok.map[0] < len(src_lines) else tok.markup
            blocks.append(Block("break", marker))
        elif t == "html_block":
            from bs4 import BeautifulSoup

            txt = BeautifulSoup(tok.content, "lxml").get_text("\n")
            txt = clean_text(txt)
            if txt:
                blocks.append(Block("paragraph", txt))
        i += 1
    if item_lines:
        blocks.append(Block("paragraph", "\n".join(item_lines)))
    return [b for b in blocks if b.kind != "paragraph" or clean_text(b.text)]


def parse(entry, opts) -> Iterator[Document]:
    text = read_text(entry, "Markdown file")
    meta, body = split_front_matter(text.lstrip("\ufeff"))
    blocks = blocks_from_markdown(obsidian_to_markdown(body))
    title = meta.get("title") if isinstance(meta.get("title"), str) and meta.get("title").strip() else ""
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    title = strip_notion_id(title.strip()) if title else title_from_name(entry.name)
    yield Document(title=title, source=entry.name, blocks=blocks, meta=meta)


__all__ = ["sniff", "parse", "split_front_matter", "obsidian_to_markdown", "blocks_from_markdown"]
