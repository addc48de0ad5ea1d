"""Benchmark the retry detector: classify() throughput in follow-ups per second, next to a
baseline of simply lower-casing and splitting the same texts, measured in the same run, and the
cost of retry collapse in `miner convert` (with and without --no-collapse).

    python bench/bench_retries.py                    # synthetic 5 MB export, generated if missing
    python bench/bench_retries.py --file conversations.json --repeat 5

Inputs: the labelled and hold-out sets (tests/data/retry_*.yaml) repeated, and every follow-up
of a synthetic ChatGPT export (bench/make_export.py: random prose from a small vocabulary, so
long messages full of mood words like "dark", "cold", "voice"). Times are the best of --repeat
runs. Ratios, not absolute numbers, are what compare across machines.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from miner import retries  # noqa: E402

Item = tuple[str, str, str, "str | None"]


def labelled_items() -> list[Item]:
    items = []
    for name in ("retry_labelled.yaml", "retry_holdout.yaml"):
        data = yaml.safe_load((ROOT / "tests" / "data" / name).read_text(encoding="utf-8"))
        items += [(it["request"], it["answer"], it["followup"], it.get("next")) for it in data["items"]]
    return items


def export_items(path: str) -> tuple[list[Item], list]:
    """(request, answer, follow-up, next answer) for every user turn that follows an answer,
    as collapse() sees them, and the conversations themselves."""
    from miner import pipeline, transforms
    from miner.summary import Summary

    items: list[Item] = []
    convs = []
    for conv in pipeline.iter_conversations([path], Summary()):
        if not hasattr(conv, "messages"):
            continue
        msgs = transforms.normalize(conv.messages)
        convs.append(replace(conv, messages=msgs))
        for i in range(2, len(msgs) - 1):
            if (msgs[i].role == "user" and msgs[i - 1].role == "assistant" and msgs[i - 2].role == "user"
                    and msgs[i + 1].role == "assistant"):
                items.append((msgs[i - 2].content, msgs[i - 1].content, msgs[i].content, msgs[i + 1].content))
    return items, convs


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def classify_all(items: list[Item], rules) -> None:
    for request, answer, followup, nxt in items:
        retries.classify(request, answer, followup, nxt, rules)


def split_all(items: list[Item]) -> None:
    # the floor: look at every text of the item once
    for texts in items:
        for t in texts:
            if t:
                t.lower().split()


def measure(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", help="a ChatGPT conversations.json (default: a synthetic export, made if missing)")
    ap.add_argument("--mb", type=float, default=5, help="size of the synthetic export")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    ap.add_argument("--times", type=int, default=50, help="how often the labelled sets are repeated")
    ap.add_argument("--skip-convert", action="store_true", help="do not time `miner convert`")
    a = ap.parse_args()

    path = a.file
    if not path:
        os.makedirs(HERE / "out", exist_ok=True)
        path = str(HERE / "out" / f"export-{a.mb:g}.json")
        if not os.path.exists(path):
            subprocess.run([sys.executable, str(HERE / "make_export.py"), path, "--mb", str(a.mb)], check=True)

    t = time.perf_counter()
    rules = retries.load_rules()
    load = time.perf_counter() - t
    labelled = labelled_items()
    ex_items, convs = export_items(path)
    sets = {f"labelled + hold-out x{a.times}": (labelled * a.times, labelled),
            f"export {os.path.basename(path)}": (ex_items, ex_items)}

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; rules loaded in {load * 1000:.0f} ms")
    print(f"{'follow-ups':36} {'n':>7} {'classify/s':>11} {'split/s':>11} {'x split':>8} {'retries':>8}")
    # retries: how many of the distinct follow-ups are judged retries
    for name, (items, distinct) in sets.items():
        classify_all(items[:200], rules)  # warm the per-word caches, as a long run would
        tc = best(lambda: classify_all(items, rules), a.repeat)
        ts = best(lambda: split_all(items), a.repeat)
        found = sum(retries.classify(*it, rules).is_retry for it in distinct)
        print(f"{name:36} {len(items):7d} {len(items) / tc:11,.0f} {len(items) / ts:11,.0f} {tc / ts:8.1f} {found:8d}")

    examined = sum(len(retries.collapse(c, rules).examined) for c in convs)
    tcol = best(lambda: [retries.collapse(c, rules) for c in convs], a.repeat)
    chains = sum(len(retries.collapse(c, rules).chains) for c in convs)
    print(f"\ncollapse() on {len(convs)} conversations: {examined} follow-ups examined, {chains} chains, "
          f"{tcol:.3f} s ({examined / max(tcol, 1e-9):,.0f} follow-ups/s)")

    if a.skip_convert:
        return
    out = os.path.join(tempfile.mkdtemp(), "o.jsonl")
    py = sys.executable
    base = [py, "-m", "miner", "convert", path, "-o", out, "--force", "--quiet"]
    bare = measure([py, "-c", "import orjson,sys; orjson.loads(open(sys.argv[1],'rb').read())", path], a.repeat)
    off = measure(base + ["--no-collapse"], a.repeat)
    on = measure(base, a.repeat)
    print(f"\nminer convert, best of {a.repeat} (wall seconds):")
    print(f"  bare orjson decode       {bare:6.2f}")
    print(f"  convert --no-collapse    {off:6.2f}  {off / bare:5.2f}x bare")
    print(f"  convert (collapse on)    {on:6.2f}  {on / bare:5.2f}x bare, {on / off:5.2f}x --no-collapse "
          f"(target: under 1.5x -> {'met' if on / off < 1.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
