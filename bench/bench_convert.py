"""Benchmark `miner convert` on a large synthetic ChatGPT export against a bare orjson decode
of the same file, in one run on one machine, and print the ratios.

    python bench/bench_convert.py --mb 400            # generates bench/out/export-400.json if missing

Each measurement runs in a fresh subprocess. `miner convert` may start worker processes, so
peak memory is the peak of the whole process tree: the child and all its descendants, sampled
every 50 ms, summing each process's PSS (shared pages, such as the o200k encoder the workers
share, are split between the processes that map them, so nothing is counted twice). The
single-process baselines also report their max RSS (wait4), which is the same figure for them.
Also timed, to justify the streaming approach: iterating the array with miner.jsonstream
(orjson-probed windows) and with ijson (yajl2_c), both building every conversation object.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

BARE = "import orjson,sys; data=orjson.loads(open(sys.argv[1],'rb').read()); print(len(data))"
STREAM = ("import sys; from miner.jsonstream import iter_array\n"
          "n=0\nwith open(sys.argv[1],'rb') as f:\n    for x in iter_array(f): n+=1\nprint(n)")
IJSON = ("import sys, ijson; n=0\nwith open(sys.argv[1],'rb') as f:\n"
         "    for x in ijson.items(f,'item',use_float=True): n+=1\nprint(n, ijson.backend)")


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), read from /proc."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def _tree_pss(root: int, marker: bytes = b"miner") -> float:
    """PSS (KB) summed over `root` and its descendants; 0 until `root` has exec'd the command
    whose arguments hold `marker` (before that, its memory is still its parent's)."""
    try:
        with open(f"/proc/{root}/cmdline", "rb") as f:
            if marker not in f.read():
                return 0.0
    except OSError:
        return 0.0
    total = 0.0
    for pid in [root, *descendants(root)]:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def measure(cmd: list[str], require_sample: bool = False) -> tuple[float, float]:
    """Wall seconds and peak memory (MB) of a child process and everything it starts.
    `miner` runs are sampled (which costs them a little CPU); the baselines are one process
    each and report their max RSS, so they are not slowed."""
    sampled = "miner" in cmd
    peak = [0.0]
    done = threading.Event()
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)

        def sample() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], _tree_pss(p.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        if sampled:
            sampler.start()
        reaped = False
        try:
            _, status, ru = os.wait4(p.pid, 0)
            reaped = True
        finally:
            done.set()
            if not reaped:  # interrupted (a test timeout): leave nothing running
                p.kill()
                p.wait()
        wall = time.perf_counter() - t
        if sampled:
            sampler.join()
        if status != 0:
            err.seek(0)
            raise RuntimeError(f"failed: {' '.join(cmd)}\n{err.read().decode(errors='replace')[-3000:]}")
    if sampled and not peak[0]:
        msg = "could not read /proc/<pid>/smaps_rollup: peak memory is max RSS of the main process only"
        if require_sample:
            raise RuntimeError(msg)
        print(f"warning: {msg}", file=sys.stderr)
    # ru_maxrss of a child forked from a big parent keeps the parent's high-water mark, so the
    # sampled figure is the one to trust where there is one
    return wall, (peak[0] if sampled and peak[0] else ru.ru_maxrss) / 1024  # KB -> MB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=400, help="size of the synthetic export")
    ap.add_argument("--file", help="use this conversations.json instead of generating one")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement (the best is kept)")
    ap.add_argument("--skip-ijson", action="store_true")
    a = ap.parse_args()
    path = a.file
    if not path:
        os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
        path = os.path.join(HERE, "out", f"export-{int(a.mb)}.json")
        if not os.path.exists(path):
            subprocess.run([sys.executable, os.path.join(HERE, "make_export.py"), path, "--mb", str(a.mb)], check=True)
    size = os.path.getsize(path) / 1e6
    out = os.path.join(tempfile.mkdtemp(), "out.jsonl")
    py = sys.executable
    runs = {
        "orjson.loads (bare decode)": [py, "-c", BARE, path],
        "miner.jsonstream iteration": [py, "-c", STREAM, path],
        "miner convert (default)": [py, "-m", "miner", "convert", path, "-o", out, "--force", "--quiet"],
        "miner convert --no-collapse": [py, "-m", "miner", "convert", path, "-o", out, "--force", "--quiet",
                                        "--no-collapse"],
        "miner convert --jobs 1": [py, "-m", "miner", "convert", path, "-o", out, "--force", "--quiet",
                                   "--jobs", "1"],
    }
    if not a.skip_ijson:
        runs["ijson.items iteration"] = [py, "-c", IJSON, path]
    results = {}
    for name, cmd in runs.items():
        best = min((measure(cmd) for _ in range(a.repeat)), key=lambda r: r[0])
        results[name] = best
    base_t, base_m = results["orjson.loads (bare decode)"]
    print(f"input: {path} ({size:,.0f} MB), python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'':32} {'seconds':>9} {'x bare':>7} {'peak MB':>9} {'x bare':>7}")
    for name, (t, m) in results.items():
        print(f"{name:32} {t:9.2f} {t / base_t:7.2f} {m:9.0f} {m / base_m:7.2f}")
    t, m = results["miner convert (default)"]
    print(f"\ntarget: convert within 2x of bare decode time -> {t / base_t:.2f}x "
          f"({'met' if t / base_t <= 2 else 'NOT met'}); peak memory under 250 MB -> {m:.0f} MB "
          f"({'met' if m < 250 else 'NOT met'})")


if __name__ == "__main__":
    main()
