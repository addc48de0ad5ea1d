"""Exact and near-duplicate detection for `stats`, `clean --dedupe` and `split`.

    text -> word shingles -> MinHash signature -> MinHash LSH index (datasketch) -> verified matches

Near-duplicates overfit: the model sees the same answer several times and learns it by heart.
Two texts are near-duplicates when the Jaccard similarity of their word 3-gram sets (estimated
from MinHash signatures) is at least `threshold`. LSH only proposes candidates; each is then
checked against its stored signature, so a pair below the threshold is never reported just
because it shared a band.

Memory is the one thing in miner.hygiene that grows with the file. Per example: the signature
(num_perm x 4 bytes, stored compactly in numpy blocks: 256 bytes at num_perm=64) plus the LSH
index (10 bands of 6 values at the default settings, each a dict entry holding a set of line
numbers) and an 8-byte exact-duplicate hash. Measured figures are in the README.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

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


class NearDuplicateIndex:
    """Signatures and an LSH index over them; keys are ints (line numbers).

    >>> idx = NearDuplicateIndex()
    >>> sig = idx.signature("the same long answer ...")
    >>> idx.matches(sig)            # earlier keys at least `threshold` similar
    >>> idx.add(12, sig)
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = DEFAULT_NUM_PERM, seed: int = 1):
        if not 0.0 < threshold <= 1.0:
            from miner.errors import ConfigError

            raise ConfigError(f"--threshold must be between 0 and 1 (got {threshold}); 0.85 is a good start")
        from datasketch import MinHash, MinHashLSH

        self.threshold = threshold
        self.num_perm = num_perm
        self._template = MinHash(num_perm=num_perm, seed=seed)  # copied per text: permutations are made once
        self.bands, self.rows = lsh_params(threshold, num_perm)
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=(self.bands, self.rows))
        self._blocks: list[np.ndarray] = []
        self._rows: dict[int, int] = {}  # key -> row in the blocks
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def signature(self, text: str) -> np.ndarray | None:
        sh = shingles(text)
        if sh is None:
            return None
        m = self._template.copy()
        m.update_batch(list(sh))
        return m.hashvalues.astype(np.uint32)  # MinHash values are < 2**32; half the memory

    def _minhash(self, sig: np.ndarray):
        m = self._template.copy()
        m.hashvalues = sig.astype(np.uint64)
        return m

    def add(self, key: int, sig: np.ndarray) -> None:
        row = self._n
        if row % _BLOCK == 0:
            self._blocks.append(np.empty((_BLOCK, self.num_perm), dtype=np.uint32))
        self._blocks[row // _BLOCK][row % _BLOCK] = sig
        self._rows[key] = row
        self._n += 1
        self._lsh.insert(key, self._minhash(sig), check_duplication=False)

    def stored(self, key: int) -> np.ndarray:
        row = self._rows[key]
        return self._blocks[row // _BLOCK][row % _BLOCK]

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.count_nonzero(a == b)) / self.num_perm

    def matches(self, sig: np.ndarray, exclude: int | None = None) -> list[int]:
        """Keys already added whose estimated similarity to `sig` is at least the threshold."""
        out = []
        for key in self._lsh.query(self._minhash(sig)):
            if key != exclude and self.similarity(sig, self.stored(key)) >= self.threshold:
                out.append(key)
        return sorted(out)

    def clusters(self) -> list[list[int]]:
        """Groups of keys linked by near-duplicate pairs (size 2+), each sorted, ordered by first key."""
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while x != root:  # path compression keeps later look-ups short
                parent[x], x = root, parent.get(x, root)
            return root

        for key in self._rows:
            for other in self.matches(self.stored(key), exclude=key):
                a, b = find(key), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
                parent.setdefault(min(a, b), min(a, b))
        groups: dict[int, list[int]] = {}
        for key in parent:
            groups.setdefault(find(key), []).append(key)
        return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda c: c[0])
