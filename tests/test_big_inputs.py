"""Big inputs convert with bounded memory (slow suite: generates a 1 GB export)."""
import os
import pathlib
import subprocess
import sys

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
    try:
        _, status, usage = os.wait4(p.pid, 0)
    finally:
        if p.poll() is None:  # the test timed out: do not leave the converter running
            p.kill()
    assert os.waitstatus_to_exitcode(status) == 0, p.stderr.read().decode()[-2000:]
    peak_mb = usage.ru_maxrss / 1024
    print(f"peak RSS converting 1 GB: {peak_mb:.0f} MB")
    assert peak_mb < 400, f"peak memory {peak_mb:.0f} MB grows with the input"
    with open(out, "rb") as f:
        lines = sum(1 for _ in f)
    assert lines > 30_000
