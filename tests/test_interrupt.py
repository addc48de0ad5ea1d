"""Runs that die (power cut, `kill -9`, the laptop's battery) and outputs that already exist.

- `miner synth` killed with SIGKILL at random moments, several times in a row, then resumed
  each time with the same command: the final file equals an uninterrupted run's, no line is
  duplicated, and no request whose answer had come back is ever sent again (the loopback
  server records every request; one may only be repeated if its earlier attempt never got an
  answer before the kill).
- `miner convert` and `miner chunk` killed mid-write: nothing under the output name (the
  output is a hidden temporary file until it is complete), and the next run just works.
- Every command that writes refuses to replace an existing file without --force: convert,
  chunk, synth, clean, split, and the review tool's Save.
"""
from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from llm_server import LLMServer, Recorded, Reply
from procs import make_export, partials, start, writing
from miner.cli import cli

KEY = "sk-test-interrupt-0123456789"
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


@pytest.fixture
def llm_server():
    with LLMServer() as srv:
        yield srv


def chunks_file(path: Path, n: int) -> list[str]:
    texts = [f"Passage {i}: the ferry left at {i % 12 + 1} and the harbour lights went out one by one."
             for i in range(n)]
    path.write_bytes(b"".join(orjson.dumps({"text": t, "source": "book.md", "document": "Book",
                                            "section": [f"Chapter {i // 5 + 1}"], "index": i, "tokens": 25}) + b"\n"
                              for i, t in enumerate(texts)))
    return texts


@pytest.mark.slow  # about 15 s; tests/test_synth_resume.py kills once in the default run
def test_synth_killed_at_random_moments_resumes_to_the_same_output(tmp_path, llm_server):
    rng = random.Random(20240607)
    src = tmp_path / "chunks.jsonl"
    texts = chunks_file(src, 40)
    sent_at: dict[int, float] = {}  # id(Recorded) -> when its answer went out

    def responder(r: Recorded) -> Reply:
        reply = Reply.openai('{"brief": "Write: ' + r.prompt[-24:].replace('"', "").replace("\\", "") + '"}',
                             prompt_tokens=30, completion_tokens=8)
        reply.delay = rng.uniform(0.1, 0.4)  # time to be killed with calls in flight
        sent_at[id(r)] = time.monotonic() + reply.delay
        return reply

    llm_server.responder = responder
    env = {"OPENAI_API_KEY": KEY, "MINER_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "wlm.jsonl"
    args = ["synth", str(src), "-o", str(out), "--provider", "openai", "--base-url", llm_server.openai_url,
            "--model", "gpt-4o-mini", "--concurrency", "3", "--quiet"]

    returned: set[str] = set()  # requests whose answer was back well before a kill
    kills = 0
    for _ in range(5):
        first = llm_server.count()
        proc = start(args, tmp_path, env, stdout=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 2.5))  # start-up takes about a second; then calls
        if proc.poll() is not None:
            break  # it finished before this kill: resuming is over
        proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(timeout=30)
        if out.exists():  # the kill came as it finished: what is there must be complete
            assert len(out.read_bytes().splitlines()) == len(texts)
            break
        kills += 1
        this_round = llm_server.requests[first:]
        assert not {r.digest for r in this_round} & returned, "an answered request was sent again"
        # Answers the server finished sending 0.3 s before the kill were received and cached.
        returned |= {r.digest for r in this_round if r.status == 200 and sent_at[id(r)] < killed - 0.3}
    assert kills >= 2, "the runs ended too quickly to be interrupted"

    if not out.exists():
        first = llm_server.count()
        proc = start(args, tmp_path, env, stdout=subprocess.DEVNULL)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert not {r.digest for r in llm_server.requests[first:]} & returned

    lines = out.read_bytes().splitlines()
    assert len(lines) == len(set(lines)) == len(texts)  # no duplicated line, none missing
    assert [orjson.loads(x)["messages"][-1]["content"] for x in lines] == texts

    fresh = tmp_path / "fresh.jsonl"
    proc = start([*args[:3], str(fresh), *args[4:]], tmp_path, {**env, "MINER_CACHE_DIR": str(tmp_path / "c2")},
                 stdout=subprocess.DEVNULL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert fresh.read_bytes() == out.read_bytes()  # the same as a run that was never killed
    # every passage was asked about; repeats only for requests whose answer never arrived
    assert len(llm_server.per_digest()) >= len(texts)


# ---- convert and chunk killed mid-write --------------------------------------------------------

def _kill_while_writing(args: list[str], folder: Path) -> None:
    proc = start(args, folder, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not writing(folder):
        assert proc.poll() is None, f"finished before it could be killed: {proc.stderr.read().decode()[-1000:]}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def big_export(tmp_path_factory) -> Path:
    return make_export(tmp_path_factory.mktemp("export") / "conversations.json", 60)


def test_convert_killed_mid_write_leaves_nothing_under_the_output_name(big_export, tmp_path):
    out = tmp_path / "chats.jsonl"
    _kill_while_writing(["convert", str(big_export), "-o", str(out), "--quiet"], tmp_path)
    assert not out.exists()
    # What a kill leaves is a hidden temporary file, and it does not stand in the way.
    assert all(p.name.startswith(".chats.jsonl.") for p in partials(tmp_path))
    small = tmp_path / "small.jsonl"
    small.write_bytes(orjson.dumps({"messages": [{"role": "user", "content": "a"},
                                                 {"role": "assistant", "content": "b"}]}) + b"\n")
    res = CliRunner().invoke(cli, ["convert", str(small), "-o", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert len(out.read_bytes().splitlines()) == 1


def test_chunk_killed_mid_write_leaves_nothing_under_the_output_name(tmp_path):
    notes = tmp_path / "vault"
    notes.mkdir()
    rng = random.Random(3)
    words = "she walked to the end of the pier and counted the boats coming home".split()
    for i in range(600):
        paras = [" ".join(rng.choice(words) for _ in range(80)).capitalize() + "." for _ in range(60)]
        (notes / f"n{i:03}.md").write_text("\n\n".join(paras))
    out = tmp_path / "chunks.jsonl"
    _kill_while_writing(["chunk", str(notes), "-o", str(out), "--quiet"], tmp_path)
    assert not out.exists()
    assert all(p.name.startswith(".chunks.jsonl.") for p in partials(tmp_path))


# ---- an existing output is never replaced without --force ----------------------------------------

OLD = b"my hand-edited dataset, do not lose me\n"
LINE = orjson.dumps({"messages": [{"role": "user", "content": "Where were you?"},
                                  {"role": "assistant", "content": "Out on the pier, watching the boats."}]}) + b"\n"


def _dataset(path: Path, n: int = 30) -> Path:
    path.write_bytes(b"".join(orjson.dumps({"messages": [
        {"role": "user", "content": f"Question {i} about the harbour and the boats?"},
        {"role": "assistant", "content": f"Answer {i}: the boats came in late, {i} of them, under grey sky."}]})
        + b"\n" for i in range(n)))
    return path


def _commands(tmp_path: Path) -> dict[str, tuple[list[str], Path]]:
    data = _dataset(tmp_path / "data.jsonl")
    note = tmp_path / "note.md"
    note.write_text("# Harbour\n\n" + "The boats came in at six and the gulls followed them. " * 20)
    return {
        "convert": (["convert", str(data), "-o", "{out}"], tmp_path / "converted.jsonl"),
        "chunk": (["chunk", str(note), "-o", "{out}"], tmp_path / "chunks.jsonl"),
        "synth": (["synth", str(note), "-o", "{out}"], tmp_path / "synth.jsonl"),
        "clean": (["clean", str(data), "-o", "{out}"], tmp_path / "clean.jsonl"),
        "split (train)": (["split", str(data), "--train", "{out}", "--val-out", str(tmp_path / "v.jsonl")],
                          tmp_path / "train.jsonl"),
        "split (val)": (["split", str(data), "--train", str(tmp_path / "t.jsonl"), "--val-out", "{out}"],
                        tmp_path / "val.jsonl"),
    }


@pytest.mark.parametrize("name", ["convert", "chunk", "synth", "clean", "split (train)", "split (val)"])
def test_existing_output_is_not_replaced_without_force(name, tmp_path):
    args, out = _commands(tmp_path)[name]
    out.write_bytes(OLD)
    res = CliRunner().invoke(cli, [a.replace("{out}", str(out)) for a in args] + ["--quiet"])
    text = " ".join((res.output + (res.stderr or "")).split())
    assert res.exit_code == 1, text
    assert "already exists" in text and "--force" in text, text
    assert out.read_bytes() == OLD  # untouched
    res = CliRunner().invoke(cli, [a.replace("{out}", str(out)) for a in args] + ["--quiet", "--force"])
    assert res.exit_code == 0, res.output
    assert out.read_bytes() != OLD  # replaced when asked


def test_review_save_does_not_replace_an_existing_file_without_force(tmp_path):
    from miner.errors import OutputError
    from miner.review.store import Store

    data = _dataset(tmp_path / "data.jsonl", 3)
    out = tmp_path / "reviewed.jsonl"
    out.write_bytes(OLD)
    try:
        store = Store.open(str(data), str(out))
    except OutputError as e:  # refused up front: also fine, as long as the file is untouched
        assert "already exists" in str(e)
    else:
        try:
            with pytest.raises(OutputError, match="already exists"):
                store.save()
        finally:
            store.close()
    assert out.read_bytes() == OLD
    store = Store.open(str(data), str(out), force=True)
    try:
        store.save()
    finally:
        store.close()
    assert out.read_bytes() != OLD and len(out.read_bytes().splitlines()) == 3
