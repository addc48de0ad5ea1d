"""Stream the elements of a huge top-level JSON array without loading the file.

Chat exports are one minified JSON array, often hundreds of MB. We decode the bytes
incrementally to text and let orjson find where each element ends: decoding a slice that holds
more than one value fails with "unexpected content after document" exactly at the end of the
first value. That probe runs in orjson's native parser and builds no Python objects, so each
element costs about one real decode (measured in bench/). The probe slice starts small and
doubles, so its cost follows the element's size, not the window's. Memory is bounded by the
window plus the largest single element, never by the file.
"""
from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

WINDOW = 4 * 1024 * 1024
PROBE = 64 * 1024
_WS = " \t\r\n"


@dataclass
class BadElement:
    """An element that is not valid JSON; iteration continues after it."""

    index: int
    reason: str


class NotAnArray(Exception):
    """The document's first value is not a JSON array (`first_char` says what it is)."""

    def __init__(self, first_char: str):
        self.first_char = first_char
        super().__init__(f"not a JSON array (starts with {first_char!r})")


class Truncated(Exception):
    """The file ends in the middle of the array."""

    def __init__(self, index: int):
        self.index = index
        super().__init__(f"the file ends in the middle of item {index + 1} (truncated or still downloading?)")


class Malformed(Exception):
    """Something other than ',' or ']' between elements."""

    def __init__(self, index: int, reason: str):
        self.index = index
        self.reason = reason
        super().__init__(reason)


class _Reader:
    """A text buffer over a binary stream, refilled on demand; invalid UTF-8 becomes lone
    surrogates, which orjson rejects, so the broken element (only) is reported."""

    def __init__(self, fp: IO[bytes], window: int):
        self.fp = fp
        self.window = window
        self.dec = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
        self.buf = ""
        self.eof = False

    def more(self, want: int | None = None) -> bool:
        if self.eof:
            return False
        raw = self.fp.read(max(self.window, want or 0))
        if not raw:
            self.eof = True
            self.buf += self.dec.decode(b"", final=True)
            return False
        self.buf += self.dec.decode(raw)
        return True

    def compact(self, pos: int) -> int:
        if pos > self.window:
            self.buf = self.buf[pos:]
            return 0
        return pos


def iter_array(fp: IO[bytes], window: int = WINDOW, probe: int = PROBE) -> Iterator[Any | BadElement]:
    """Yield each element of the JSON array in binary stream `fp`.

    Raises NotAnArray if the document is not an array, Truncated if it ends early, Malformed
    if the text between elements is not JSON. An element that is not valid JSON but is still
    delimited (bad UTF-8, a stray character) is yielded as BadElement and iteration goes on.
    """
    r = _Reader(fp, window)
    pos = _skip(r, 0)
    if pos >= len(r.buf):
        raise NotAnArray("")
    if r.buf[pos] != "[":
        raise NotAnArray(r.buf[pos])
    pos += 1
    index = 0
    expect_value = True
    size = probe
    while True:
        pos = _skip(r, pos)
        if pos >= len(r.buf):
            raise Truncated(index)
        c = r.buf[pos]
        if c == "]" and (not expect_value or index == 0):
            return
        if c == "," and not expect_value:
            pos += 1
            expect_value = True
            continue
        if not expect_value:
            raise Malformed(index, f"expected ',' or ']' after item {index}, found {c!r}")
        value, end, size = _decode_one(r, pos, index, size, probe)
        yield value
        index += 1
        expect_value = False
        pos = r.compact(end)


def _decode_one(r: _Reader, pos: int, index: int, size: int, probe: int):
    """Decode the value at r.buf[pos]; returns (value, end, next probe size)."""
    while True:
        stop = pos + size
        if stop > len(r.buf) and not r.eof:
            r.more(stop - len(r.buf))
            continue
        try:
            value = orjson.loads(r.buf[pos:stop])
            if stop < len(r.buf) or not r.eof:
                size *= 2  # the value filled the probe exactly; make sure it really ends here
                continue
            return value, len(r.buf), max(probe, size // 2)
        except orjson.JSONDecodeError as e:
            msg = getattr(e, "msg", str(e))
            if "after document" in msg:
                end = pos + e.pos
                value = orjson.loads(r.buf[pos:end])
                return value, end, max(probe, min(size, 2 * (end - pos)))
            if "end of data" in msg or (pos + e.pos >= len(r.buf) - 1 and stop < len(r.buf)):
                if stop >= len(r.buf) and r.eof:
                    raise Truncated(index) from None
                size *= 2
                continue
            # Bad content somewhere in the probe: find this element's end structurally and
            # judge it alone, so a broken neighbour does not take it down.
            end = _scan_end(r, pos)
            if end is None:
                raise Truncated(index) from None
            try:
                return orjson.loads(r.buf[pos:end]), end, probe
            except orjson.JSONDecodeError as e2:
                return BadElement(index, f"invalid JSON: {getattr(e2, 'msg', e2)}"), end, probe


def _skip(r: _Reader, pos: int) -> int:
    while True:
        n = len(r.buf)
        while pos < n and r.buf[pos] in _WS:
            pos += 1
        if pos < n or not r.more():
            return pos


def _scan_end(r: _Reader, pos: int) -> int | None:
    """End of the JSON value at pos by bracket matching (strings respected), reading more as
    needed; None if the stream ends first. Pure Python, so only used to step over a broken
    element."""
    depth = 0
    in_str = False
    i = pos
    while True:
        buf = r.buf
        n = len(buf)
        while i < n:
            c = buf[i]
            if in_str:
                if c == "\\":
                    i += 2
                    continue
                if c == '"':
                    in_str = False
            elif c == '"':
                in_str = True
            elif c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
                if depth <= 0:
                    return i + 1 if depth == 0 else i
            elif c == "," and depth == 0:
                return i
            i += 1
        if not r.more():
            return None
