"""Running miner as a real process in tests: start it, watch its temporary output and the
processes it starts, make a big export for it to chew on."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_convert import descendants  # noqa: E402,F401  (re-exported for the tests)

ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def start(args: list[str], cwd: Path, env: dict | None = None, stdout=subprocess.PIPE, **popen) -> subprocess.Popen:
    """`python -m miner ARGS` from this checkout, stderr piped."""
    return subprocess.Popen([sys.executable, "-m", "miner", *args], cwd=cwd, env={**ENV, **(env or {})},
                            stdout=stdout, stderr=subprocess.PIPE, **popen)


def make_export(path: Path, mb: float) -> Path:
    """A synthetic ChatGPT conversations.json of about `mb` MB (bench/make_export.py)."""
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_export.py"), str(path), "--mb", str(mb)], check=True,
                   stdout=subprocess.DEVNULL)
    return path


def partials(folder: Path) -> list[Path]:
    """The temporary output files in `folder`."""
    return [p for p in folder.iterdir() if p.name.endswith(".partial")]


def writing(folder: Path) -> bool:
    """True once a run's temporary output in `folder` has lines in it."""
    for p in partials(folder):
        try:
            if p.stat().st_size > 0:
                return True
        except FileNotFoundError:  # renamed or removed between the listing and the stat
            pass
    return False


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
