"""Big inputs convert with bounded memory (slow suite: generates a 1 GB export)."""
import sys

import pytest

from procs import make_export

from bench_convert import measure  # (procs puts bench/ on the path)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_one_gigabyte_chatgpt_export_converts_with_bounded_memory(tmp_path):
    export = make_export(tmp_path / "conversations.json", 1024)
    assert export.stat().st_size > 1_000_000_000
    out = tmp_path / "out.jsonl"
    # Peak memory of the converter and every worker process it starts, summed (PSS: pages the
    # workers share are counted once), sampled while it runs; the same measure as bench/.
    seconds, peak_mb = measure([sys.executable, "-m", "miner", "convert", str(export), "-o", str(out), "--quiet"],
                             require_sample=True)
    print(f"converting 1 GB: {seconds:.0f} s, peak memory {peak_mb:.0f} MB (all processes)")
    assert peak_mb < 300, f"peak memory {peak_mb:.0f} MB grows with the input"
    with open(out, "rb") as f:
        lines = sum(1 for _ in f)
    assert lines > 30_000
