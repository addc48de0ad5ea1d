"""`miner split`: a training file and a validation file from one dataset.

    dataset.jsonl -> pass 1: sources, exact keys, MinHash signatures -> duplicate groups
                  -> units (a group of near-duplicates, or one example) assigned per source
                  -> pass 2: each line copied byte for byte to NAME.train.jsonl / NAME.val.jsonl

Deterministic for a given --seed. Near-duplicates and exact duplicates always land on the
same side: a validation example the model has already seen in training measures memory, not
skill. When the examples come from several sources (a top-level "source" or meta.source), each
source is split in the same proportion, so validation is not all one book.
"""
from __future__ import annotations

import os
import random
from array import array
from collections.abc import Callable

from miner.errors import ConfigError, OutputError
from miner.hygiene.dedupe import DEFAULT_THRESHOLD, NearDuplicateIndex, exact_key
from miner.hygiene.io import BadLine, derive_path, iter_lines, to_example
from miner.output import AtomicFile, check_writable
from miner.summary import Summary


class _UnionFind:
    def __init__(self) -> None:
        self.parent = array("q")

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, x: int) -> int:
        p = self.parent
        root = x
        while p[root] != root:
            root = p[root]
        while p[x] != root:
            p[x], x = root, p[x]
        return root

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def split_file(path: str, val: float = 0.1, seed: int = 0, *, threshold: float = DEFAULT_THRESHOLD,
               train_out: str | None = None, val_out: str | None = None, stratify: bool = True,
               force: bool = False, progress: Callable[..., None] | None = None) -> Summary:
    """Split `path` into train and validation files; `val` is a fraction (0.1) or a count (200).

    >>> split_file("wlm.clean.jsonl", 0.1, seed=7).counts
    Counter({'examples': 300, 'train': 270, 'validation': 30})
    """
    if val <= 0 or (val >= 1 and val != int(val)):
        raise ConfigError(f"--val {val}: give a fraction between 0 and 1 (0.1 = 10%) or a whole number of examples")
    train_out = train_out or derive_path(path, "train")
    val_out = val_out or derive_path(path, "val")
    for out in (train_out, val_out):
        if os.path.abspath(out) == os.path.abspath(path):
            raise OutputError(f"{out} is the input file; choose other output names")
        check_writable(out, force)

    summary = Summary(title=f"miner split {os.path.basename(path)}")
    sources: dict[str, int] = {}
    source_of = array("l")
    uf = _UnionFind()
    index = NearDuplicateIndex(threshold)
    exact: dict[int, int] = {}
    for ln in iter_lines(path):  # pass 1: what each example is and what it duplicates
        ex = to_example(ln)
        if ex is None:
            continue
        if isinstance(ex, BadLine):
            summary.skip(ex.reason, f"{path}:{ex.line}", ex.detail)
            continue
        i = uf.add()
        source_of.append(sources.setdefault(ex.source(), len(sources)))
        key = exact_key(f"{m.role}\x00{m.content}" for m in ex.messages())
        if key in exact:
            uf.union(exact[key], i)
        else:
            exact[key] = i
        sig = index.signature(ex.assistant_text())
        if sig is not None:
            for other in index.matches(sig):
                uf.union(other, i)
            index.add(i, sig)
        if progress:
            progress(1)
    del exact, index
    n = len(source_of)
    if n < 2:
        raise ConfigError(f"{path}: {n} usable example(s); splitting needs at least 2")
    in_val = _assign(uf, source_of, len(sources) if stratify else 1, n, val, seed, summary)

    i = 0
    with AtomicFile(train_out, force=force) as tf, AtomicFile(val_out, force=force) as vf:
        for ln in iter_lines(path):  # pass 2: copy each line, untouched, to its side
            ex = to_example(ln)
            if ex is None or isinstance(ex, BadLine):
                continue
            (vf if in_val[i] else tf).write(ln.raw + b"\n")
            i += 1
    summary.add("examples", n)
    summary.add("train", n - sum(in_val))
    summary.add("validation", sum(in_val))
    summary.info["train file"] = train_out
    summary.info["validation file"] = val_out
    if summary.skips:
        summary.note("lines that are not examples were left out of both files; run miner validate to see them")
    return summary


def _assign(uf: _UnionFind, source_of: array, n_strata: int, n: int, val: float, seed: int,
            summary: Summary) -> bytearray:
    """Which examples go to validation: whole duplicate groups, about `val` of each source."""
    units: dict[int, list[int]] = {}  # root -> members
    for i in range(n):
        units.setdefault(uf.find(i), []).append(i)
    strata: dict[int, list[list[int]]] = {}
    for members in units.values():  # a group goes with the source of its first example
        strata.setdefault(source_of[members[0]] if n_strata > 1 else 0, []).append(members)
    want_total = int(val) if val >= 1 else round(val * n)
    want_total = max(1, want_total)
    if want_total >= n:
        raise ConfigError(f"--val {val} would leave nothing to train on ({n} examples)")
    in_val = bytearray(n)
    got = 0
    for stratum in sorted(strata):
        groups = sorted(strata[stratum], key=lambda g: g[0])
        size = sum(len(g) for g in groups)
        want = round(want_total * size / n)
        rng = random.Random(f"{seed}:{stratum}")
        rng.shuffle(groups)
        taken = 0
        for g in groups:
            if taken + len(g) <= want:
                for i in g:
                    in_val[i] = 1
                taken += len(g)
            if taken == want:
                break
        got += taken
    if got == 0:  # tiny sets: rounding gave every source 0; take one unit from the whole set
        singles = sorted((g for gs in strata.values() for g in gs), key=lambda g: (len(g), g[0]))
        random.Random(f"{seed}:all").shuffle(singles)
        g = min(singles, key=len)
        if len(g) < n:
            for i in g:
                in_val[i] = 1
    multi = sum(1 for g in units.values() if len(g) > 1)
    if multi:
        summary.info["duplicate groups kept on one side"] = multi
    if n_strata > 1:
        summary.info["sources split evenly"] = n_strata
    return in_val
