"""A real `miner synth` process killed with SIGKILL mid-run, then the same command again: it
finishes without repeating a single call that had returned, without a partial file under the
output name, and with every passage exactly once, in order."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import orjson
import pytest
from click.testing import CliRunner

from llm_server import LLMServer, Recorded, Reply
from miner.cli import cli

KEY = "sk-test-SECRET-abc123"


@pytest.fixture
def llm_server():
    with LLMServer() as srv:
        yield srv
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_mid_run_then_resume(tmp_path, llm_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    texts = [f"Passage {i}: the tide came in over the causeway and Mara counted {i} gulls." for i in range(12)]
    src = tmp_path / "chunks.jsonl"
    src.write_bytes(b"".join(orjson.dumps({"text": t, "source": "n.md", "document": "N", "section": ["C"],
                                           "index": i, "tokens": 20}) + b"\n" for i, t in enumerate(texts)))
    out = tmp_path / "out.jsonl"
    hold = threading.Event()
    answered_before_kill = 5

    def responder(r: Recorded) -> Reply:
        if llm_server.count() > answered_before_kill and not hold.is_set():
            return Reply(**{**vars(Reply.openai('{"brief": "late"}')), "delay": 30})  # hang until killed
        return Reply.openai('{"brief": "Write: ' + r.prompt[-30:].replace('"', "") + '"}')

    llm_server.responder = responder
    args = ["synth", str(src), "-o", str(out), "--provider", "openai", "--base-url", llm_server.openai_url,
            "--model", "gpt-4o-mini", "--concurrency", "1", "--quiet"]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "miner", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while llm_server.count() <= answered_before_kill:  # the next request is in flight, held
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        hold.set()
    _, err = proc.communicate()
    assert KEY.encode() not in err

    assert not out.exists()  # nothing partial under the final name
    first = llm_server.answered()
    assert len(first) == answered_before_kill
    before = llm_server.count()

    res = CliRunner().invoke(cli, args[:-1])  # the same command, now with the summary
    assert res.exit_code == 0, res.output
    second = llm_server.requests[before:]
    assert not {r.digest for r in second} & first  # no paid call that had returned is repeated
    assert len(second) == len(texts) - answered_before_kill
    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [r["messages"][-1]["content"] for r in rows] == texts  # each passage once, in order
    assert "resumed an unfinished run" in res.output
