"""Big inputs convert with bounded memory (slow suite: generates a 1 GB export)."""
import os
import pathlib
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_one_gigabyte_chatgpt_export_converts_with_bounded_memory(tmp_path):
    export = tmp_path / "conversations.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_export.py"), str(export), "--mb", "1024"], check=True,
                   stdout=subprocess.DEVNULL)
    assert export.stat().st_size > 1_000_000_000
    out = tmp_path / "out.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "miner", "convert", str(export), "-o", str(out), "--quiet"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Peak memory of the converter's own image: VmHWM from /proc, polled while it runs.
    # (ru_maxrss would include the pytest parent's memory copied at fork, which is large
    # after the fuzz tests: the kernel keeps that high-water mark across exec.)
    peak_kb = 0
    try:
        while p.poll() is None:
            time.sleep(0.05)
            try:
                with open(f"/proc/{p.pid}/cmdline", "rb") as f:
                    if b"convert" not in f.read():
                        continue  # not exec'd yet: the memory is still the parent's
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak_kb = max(peak_kb, int(line.split()[1]))
            except OSError:
                pass
    finally:
        if p.poll() is None:  # the test timed out: do not leave the converter running
            p.kill()
    assert p.returncode == 0, p.stderr.read().decode()[-2000:]
    assert peak_kb > 0, "could not read the converter's memory from /proc"
    peak_mb = peak_kb / 1024
    print(f"peak RSS converting 1 GB: {peak_mb:.0f} MB")
    assert peak_mb < 400, f"peak memory {peak_mb:.0f} MB grows with the input"
    with open(out, "rb") as f:
        lines = sum(1 for _ in f)
    assert lines > 30_000
