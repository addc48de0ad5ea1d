"""Ctrl-C in the middle of `miner convert`, `miner chunk` and `miner synth` (a real process, a
real SIGINT): exit code 130, one message that says how to carry on, no traceback, nothing
under the output name, no temporary file left behind; and for synth, running the same command
again finishes with output identical to an uninterrupted run, without asking again for
anything that was answered.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import orjson
import pytest

from llm_server import LLMServer, Recorded, Reply
from procs import make_export, partials, start, writing

KEY = "sk-test-ctrl-c-0123456789"
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="POSIX signals")


@pytest.fixture
def llm_server():
    with LLMServer() as srv:
        yield srv


def wait_for(proc: subprocess.Popen, ready, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended before {what}: exit {proc.returncode}\n{err.decode()[-2000:]}")
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def interrupt(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err.decode()


def assert_clean_interrupt(code: int, err: str, out: Path) -> None:
    assert code == 130, err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    assert "Interrupted" in err and "run the same command again" in err.lower(), err
    assert not out.exists()  # nothing under the final name
    assert not partials(out.parent), partials(out.parent)  # and no temporary file left


@pytest.fixture(scope="module")
def big_export(tmp_path_factory) -> Path:
    return make_export(tmp_path_factory.mktemp("export") / "conversations.json", 60)


def test_ctrl_c_during_convert(big_export, tmp_path):
    out = tmp_path / "chats.jsonl"
    proc = start(["convert", str(big_export), "-o", str(out)], tmp_path)
    wait_for(proc, lambda: writing(tmp_path), "the first examples being written")
    assert_clean_interrupt(*interrupt(proc), out)


def test_ctrl_c_during_chunk(tmp_path):
    notes = tmp_path / "vault"
    notes.mkdir()
    rng = random.Random(7)
    words = "the tide came in over grey stones and she watched it while gulls turned above the quay".split()
    for i in range(600):
        paras = [" ".join(rng.choice(words) for _ in range(rng.randint(40, 120))).capitalize() + "." for _ in range(60)]
        (notes / f"note{i:03}.md").write_text(f"# Note {i}\n\n" + "\n\n".join(paras))
    out = tmp_path / "chunks.jsonl"
    proc = start(["chunk", str(notes), "-o", str(out)], tmp_path)
    wait_for(proc, lambda: writing(tmp_path), "the first chunks being written")
    assert_clean_interrupt(*interrupt(proc), out)


def _chunks_file(path: Path, n: int) -> list[str]:
    texts = [f"Passage {i}: the lamp in the window burned until {i} o'clock, and then the street was dark."
             for i in range(n)]
    path.write_bytes(b"".join(orjson.dumps({"text": t, "source": "n.md", "document": "N", "section": ["C"],
                                            "index": i, "tokens": 25}) + b"\n" for i, t in enumerate(texts)))
    return texts


def test_ctrl_c_during_synth_then_the_same_command_finishes(tmp_path, llm_server):
    src = tmp_path / "chunks.jsonl"
    texts = _chunks_file(src, 16)
    answer_first = 4
    released = threading.Event()

    def responder(r: Recorded) -> Reply:
        # The first answers come at once; later requests are held (in flight) until released,
        # so Ctrl-C lands while calls are under way and the answered set is known exactly.
        if llm_server.count() > answer_first:
            released.wait(60)
        return Reply.openai('{"brief": "Write: ' + r.prompt[-24:].replace('"', "").replace("\\", "") + '"}')

    llm_server.responder = responder
    env = {"OPENAI_API_KEY": KEY, "MINER_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "wlm.jsonl"
    args = ["synth", str(src), "-o", str(out), "--provider", "openai", "--base-url", llm_server.openai_url,
            "--model", "gpt-4o-mini", "--concurrency", "2"]
    try:
        proc = start(args, tmp_path, env)
        wait_for(proc, lambda: llm_server.count() > answer_first, "a request in flight")
        time.sleep(0.3)  # let the answered ones reach the cache
        code, err = interrupt(proc)
        answered = llm_server.answered()
    finally:
        released.set()
    assert_clean_interrupt(code, err, out)
    assert KEY not in err
    assert len(answered) == answer_first
    before = llm_server.count()

    proc = start(args, tmp_path, env)
    _, err2 = proc.communicate(timeout=300)
    assert proc.returncode == 0, err2.decode()[-2000:]
    again = {r.digest for r in llm_server.requests[before:]}
    assert not again & answered  # nothing that had been answered was asked (and paid for) twice
    assert len(llm_server.requests[before:]) == len(texts) - answer_first
    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [r["messages"][-1]["content"] for r in rows] == texts  # every passage once, in order

    # identical to an uninterrupted run of the same command (fresh cache, another file)
    fresh = tmp_path / "fresh.jsonl"
    env2 = {**env, "MINER_CACHE_DIR": str(tmp_path / "cache2")}
    proc = start([*args[:3], str(fresh), *args[4:]], tmp_path, env2)
    _, err3 = proc.communicate(timeout=300)
    assert proc.returncode == 0, err3.decode()[-2000:]
    assert fresh.read_bytes() == out.read_bytes()
