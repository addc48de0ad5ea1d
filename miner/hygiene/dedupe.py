"""Exact and near-duplicate detection for `stats`, `clean --dedupe` and `split`.

    text -> word shingles -> MinHash signature -> MinHash LSH index (datasketch) -> verified matches

Near-duplicates overfit: the model sees the same answer several times and learns it by heart.
Two texts are near-duplicates when the Jaccard similarity of their word 3-gram sets (estimated
from MinHash signatures) is at least `threshold`. LSH only proposes candidates; each is then
checked against its stored signature, so a pair below the threshold is never reported just
because it shared a band.

Memory is the one thing in miner.hygiene that grows with the file, so the index is compact:
signatures are computed with datasketch's MinHash, but the banding (LSH) tables are numpy
open-addressing tables rather than datasketch's MinHashLSH, which was measured at ~4.4 KB per
example (its per-band dicts of bytes keys and sets): 4.4 GB for a million examples. Here, per
example: the signature kept for verification (num_perm x 2 bytes: the low 16 bits of each
value, plenty to estimate similarity), one 8-byte slot per band in tables kept at most half
full, and a slot in the identical-signature table. Measured figures are in the README.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator

import numpy as np

DEFAULT_THRESHOLD = 0.85
DEFAULT_NUM_PERM = 64
SHINGLE_WORDS = 3
MIN_WORDS = 8  # shorter texts ("Thanks!", "Yes.") are only compared exactly
_BLOCK = 16384
_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def shingles(text: str, k: int = SHINGLE_WORDS) -> set[bytes] | None:
    """The set of k-word shingles of `text`, or None if it is too short to compare by similarity."""
    w = words(text)
    if len(w) < MIN_WORDS:
        return None
    return {" ".join(w[i:i + k]).encode() for i in range(len(w) - k + 1)}


def exact_key(parts: Iterable[str]) -> int:
    """An 8-byte fingerprint of texts, ignoring case and spacing (for exact duplicates)."""
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(" ".join(p.casefold().split()).encode())
        h.update(b"\x00")
    return int.from_bytes(h.digest(), "little")


def lsh_params(threshold: float, num_perm: int, recall: float = 0.98) -> tuple[int, int]:
    """Bands and rows for the LSH index. datasketch's default balances misses against false
    candidates, which at 0.85 finds only ~30% of pairs right at the threshold; every candidate
    is verified here anyway, so pick the longest bands that still find `recall` of them."""
    best = (num_perm, 1)
    for r in range(1, num_perm + 1):
        b = num_perm // r
        if b < 1:
            break
        if 1 - (1 - threshold ** r) ** b >= recall:
            best = (b, r)
    return best


class _Table:
    """A grow-only multimap from 32-bit fingerprints to row numbers: numpy arrays with linear
    probing, kept at most half full (8 bytes a slot), instead of a dict of Python objects."""

    def __init__(self, capacity: int = 1024):
        self.keys = np.zeros(capacity, dtype=np.uint32)
        self.vals = np.full(capacity, -1, dtype=np.int32)
        self.n = 0

    def insert(self, h: int, row: int) -> None:
        if 2 * (self.n + 1) > len(self.vals):
            self._grow()
        mask = len(self.vals) - 1
        i = h & mask
        vals = self.vals
        while vals[i] != -1:
            i = (i + 1) & mask
        self.keys[i] = h
        vals[i] = row
        self.n += 1

    def find(self, h: int, limit: int = 64) -> Iterator[int]:
        """Rows stored under `h` (a few more or fewer never matter: callers verify)."""
        mask = len(self.vals) - 1
        i = h & mask
        keys, vals = self.keys, self.vals
        found = 0
        while vals[i] != -1 and found < limit:
            if keys[i] == h:
                found += 1
                yield int(vals[i])
            i = (i + 1) & mask

    def _grow(self) -> None:
        keys, vals = self.keys[self.vals != -1], self.vals[self.vals != -1]
        self.keys = np.zeros(len(self.vals) * 2, dtype=np.uint32)
        self.vals = np.full(len(self.vals) * 2, -1, dtype=np.int32)
        self.n = 0
        for h, row in zip(keys.tolist(), vals.tolist()):
            self.insert(h, row)


_M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9)


def _fingerprints(values: np.ndarray, groups: int, width: int) -> list[int]:
    """One well-mixed 32-bit number per group of `width` values (a band, or the whole signature)."""
    x = values[: groups * width].astype(np.uint64).reshape(groups, width)
    weights = (np.arange(1, width + 1, dtype=np.uint64) * _M1) | np.uint64(1)
    with np.errstate(over="ignore"):
        h = (x * weights).sum(axis=1, dtype=np.uint64)
        h ^= h >> np.uint64(31)
        h *= _M2
        h ^= h >> np.uint64(29)
    return (h & np.uint64(0xFFFFFFFF)).astype(np.int64).tolist()


class NearDuplicateIndex:
    """MinHash signatures and LSH tables over them; keys are ints (line numbers).

    >>> idx = NearDuplicateIndex()
    >>> sig = idx.signature("the same long answer ...")
    >>> idx.matches(sig)            # keys added earlier that are at least `threshold` similar
    >>> idx.add(12, sig)
    >>> idx.clusters()              # [[3, 12, 40], ...]
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = DEFAULT_NUM_PERM, seed: int = 1):
        if not 0.0 < threshold <= 1.0:
            from miner.errors import ConfigError

            raise ConfigError(f"--threshold must be between 0 and 1 (got {threshold}); 0.85 is a good start")
        from datasketch import MinHash

        self.threshold = threshold
        self.num_perm = num_perm
        self._template = MinHash(num_perm=num_perm, seed=seed)  # copied per text: permutations are made once
        self.bands, self.rows = lsh_params(threshold, num_perm)
        self._tables = [_Table() for _ in range(self.bands)]
        self._same = _Table()  # identical signatures: stored once, the rest point at it
        self._sigs = np.zeros((0, num_perm), dtype=np.uint16)
        self._keys = np.zeros(0, dtype=np.int64)
        self._alias = np.zeros(0, dtype=np.int32)  # row of the identical earlier signature, or -1
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def signature(self, text: str) -> np.ndarray | None:
        """The MinHash signature (uint32) of `text`'s word shingles; None if it is too short."""
        sh = shingles(text)
        if sh is None:
            return None
        m = self._template.copy()
        m.update_batch(list(sh))
        return np.asarray(m.hashvalues, dtype=np.uint64).astype(np.uint32)  # values are < 2**32

    def _ensure(self, n: int) -> None:
        if n <= len(self._keys):
            return
        cap = max(1024, len(self._keys) * 2)
        self._sigs = np.resize(self._sigs, (cap, self.num_perm))
        self._keys = np.resize(self._keys, cap)
        self._alias = np.resize(self._alias, cap)

    def _same_row(self, short: np.ndarray, whole: int) -> int | None:
        for row in self._same.find(whole):
            if np.array_equal(self._sigs[row], short):
                return row
        return None

    def add(self, key: int, sig: np.ndarray) -> None:
        short = sig.astype(np.uint16)  # bands and checks all use the 16-bit values, so stored rows can be re-queried
        row = self._n
        self._ensure(row + 1)
        self._sigs[row] = short
        self._keys[row] = key
        whole = _fingerprints(short, 1, self.num_perm)[0]
        same = self._same_row(short, whole)
        self._alias[row] = -1 if same is None else same
        if same is None:  # an identical signature already indexed: linking to it is enough
            self._same.insert(whole, row)
            for table, h in zip(self._tables, _fingerprints(short, self.bands, self.rows)):
                table.insert(h, row)
        self._n += 1

    def _candidate_rows(self, short: np.ndarray) -> list[int]:
        rows: set[int] = set()
        for table, h in zip(self._tables, _fingerprints(short, self.bands, self.rows)):
            rows.update(table.find(h))
        if not rows:
            return []
        cand = np.fromiter(rows, dtype=np.int64, count=len(rows))
        sims = np.count_nonzero(self._sigs[cand] == short, axis=1) / self.num_perm
        return cand[sims >= self.threshold].tolist()

    def matches(self, sig: np.ndarray, exclude: int | None = None) -> list[int]:
        """Keys already added whose estimated similarity to `sig` is at least the threshold
        (of identical signatures, only the first one added)."""
        keys = {int(self._keys[r]) for r in self._candidate_rows(sig.astype(np.uint16))}
        keys.discard(exclude)
        return sorted(keys)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.count_nonzero(a.astype(np.uint16) == b.astype(np.uint16))) / self.num_perm

    def clusters(self) -> list[list[int]]:
        """Groups of keys linked by near-duplicate pairs (size 2+), each sorted, ordered by first key."""
        parent = np.arange(self._n, dtype=np.int64)

        def find(x: int) -> int:
            root = x
            while parent[root] != root:
                root = int(parent[root])
            while parent[x] != root:
                parent[x], x = root, int(parent[x])
            return root

        for row in range(self._n):
            others = [int(self._alias[row])] if self._alias[row] >= 0 else self._candidate_rows(self._sigs[row])
            for other in others:
                a, b = find(row), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        groups: dict[int, list[int]] = {}
        for row in np.nonzero(parent != np.arange(self._n))[0].tolist():
            root = find(row)
            groups.setdefault(root, [int(self._keys[root])]).append(int(self._keys[row]))
        return sorted((sorted(set(g)) for g in groups.values()), key=lambda c: c[0])
