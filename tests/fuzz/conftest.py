"""Fixtures of the fuzz suite; the machinery is in fuzzkit.py (see its docstring)."""
from __future__ import annotations

import pathlib
import resource
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
for p in (HERE, HERE.parent):  # fuzzkit here; llm_server and chat_builders one folder up
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

MEMORY_GROWTH_MB = 1500  # peak RSS a whole fuzz test may add (inputs are at most a few MB)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture
def bounded_memory():
    """Caps the address space (a runaway allocation fails fast instead of swapping the
    machine) and checks peak RSS did not grow by more than MEMORY_GROWTH_MB over the test."""
    before = _peak_mb()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        cap = vm + 6 * 1024**3
        if hard == resource.RLIM_INFINITY or cap < hard:
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (OSError, StopIteration, ValueError):
        pass
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    grown = _peak_mb() - before
    assert grown < MEMORY_GROWTH_MB, f"peak memory grew by {grown:.0f} MB during fuzzing"


