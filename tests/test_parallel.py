"""`miner convert` with worker processes writes exactly what one process writes: the same bytes
in the same order, and the same summary (counts, skip reasons and their examples), whatever
the input holds; and a worker that dies is a clear error, not a hang."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from chat_builders import gpt_simple, write
from procs import ROOT, alive, descendants, make_export, partials, start, writing
from miner import parallel
from miner.pipeline import ConvertOptions, convert

SAMPLES = [str(ROOT / "samples" / "chatgpt-export.zip"), str(ROOT / "samples" / "claude-export.zip")]


def _retry_chat(i: int) -> dict:
    return gpt_simple(("user", f"Write a short scene {i} at the harbour."),
                      ("assistant", f"The boats knocked together in the dark harbour while Mara counted {i} lamps."),
                      ("user", "Make it longer and add dialogue."),
                      ("assistant", f"The boats knocked together in the dark harbour. 'Count them,' said Mara, "
                                    f"and Tom counted {i} lamps, then {i + 1}, and the water talked under the hulls."),
                      id=f"retry-{i}", title=f"Retry {i}")


@pytest.fixture(scope="module")
def mixed_export(tmp_path_factory) -> Path:
    """Conversations of every kind a run meets: plain, retry chains, empty, broken, filtered."""
    convs: list = []
    for i in range(300):
        k = i % 6
        if k == 0:
            convs.append(_retry_chat(i))
        elif k == 1:
            convs.append(gpt_simple(("user", f"Only a question {i}?"), id=f"noanswer-{i}"))  # skipped: no answer
        elif k == 2:
            convs.append({"id": f"broken-{i}", "mapping": "not a mapping", "current_node": "x"})  # skipped: broken
        else:
            turns = []
            for t in range(1 + i % 4):
                turns += [("user", f"Question {i}.{t}: tell me about the lighthouse keeper's {t} dogs."),
                          ("assistant", f"Answer {i}.{t}: " + "the keeper walked the cliff with them " * (1 + t))]
            convs.append(gpt_simple(*turns, id=f"plain-{i}", title=f"Plain {i}"))
    return write(tmp_path_factory.mktemp("mixed") / "conversations.json", convs)


def _run(paths: list[str], out: Path, jobs: int, **kw):
    summary = convert(paths, str(out), ConvertOptions(force=True, jobs=jobs, parallel_min_bytes=0, **kw))
    return out.read_bytes(), summary


@pytest.mark.parametrize("kw", [
    {},
    {"collapse": False},
    {"format": "openai-dpo"},
    {"max_tokens": 90, "system": "You are Mara."},
    {"format": "sharegpt", "min_turns": 2},
], ids=["default", "no-collapse", "dpo", "max-tokens", "sharegpt"])
def test_workers_write_the_same_bytes_and_summary_as_one_process(mixed_export, tmp_path, kw):
    paths = [str(mixed_export), *SAMPLES]
    one, s1 = _run(paths, tmp_path / "one.jsonl", 1, **kw)
    many, s2 = _run(paths, tmp_path / "many.jsonl", 3, **kw)
    assert one and many == one
    assert s2.to_dict() == s1.to_dict()
    # the table prints in the same order too (ties included: 50 skips of two kinds each)
    assert list(s2.counts) == list(s1.counts)
    assert list(s2.skips) == list(s1.skips) and list(s2.skip_examples) == list(s1.skip_examples)


def test_user_retry_rules_reach_the_workers(tmp_path):
    rules = tmp_path / "mine.yaml"
    rules.write_text("retry:\n  slang:\n    - zhuzh\n", encoding="utf-8")
    convs = [gpt_simple(("user", f"Write a toast {i} for the harbour party."),
                        ("assistant", f"To the harbour, to the boats, to the {i} lamps that bring us home."),
                        ("user", "zhuzh it up"),
                        ("assistant", f"To the harbour and her boats, to the {i} lamps that bring us home!"),
                        id=f"z{i}") for i in range(40)]
    src = write(tmp_path / "conversations.json", convs)
    one, s1 = _run([str(src)], tmp_path / "one.jsonl", 1, retry_rules=str(rules))
    many, s2 = _run([str(src)], tmp_path / "many.jsonl", 2, retry_rules=str(rules))
    assert many == one and s2.counts["retry chains collapsed"] == 40


def test_the_mixed_export_exercises_every_path(mixed_export, tmp_path):
    _, s = _run([str(mixed_export)], tmp_path / "x.jsonl", 2)
    assert s.counts["retry chains collapsed"] == 50
    assert s.skips["no assistant turn after cleaning"] == 50
    assert sum(v for k, v in s.skips.items() if "broken" in k or "unreadable" in k or "invalid" in k) >= 1, s.skips
    assert s.counts["tokens"] > 0 and s.counts["messages"] > 0


def test_pairs_read_back_from_dpo_jsonl_go_through_workers_unchanged(mixed_export, tmp_path):
    dpo, _ = _run([str(mixed_export)], tmp_path / "pairs.jsonl", 1, format="openai-dpo")
    assert dpo.count(b"\n") == 50
    one, s1 = _run([str(tmp_path / "pairs.jsonl")], tmp_path / "again1.jsonl", 1, format="trl-preference")
    many, s2 = _run([str(tmp_path / "pairs.jsonl")], tmp_path / "again2.jsonl", 2, format="trl-preference")
    assert many == one and s2.to_dict() == s1.to_dict()
    assert orjson.loads(one.splitlines()[0])["chosen"]


def test_small_inputs_stay_in_one_process(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(parallel.OrderedPool, "__init__", lambda self, *a, **k: started.append(a))
    convert(SAMPLES, str(tmp_path / "s.jsonl"), ConvertOptions(force=True, jobs=4))  # default threshold: 8 MB
    assert started == []


@pytest.fixture(scope="module")
def big_export(tmp_path_factory) -> Path:
    return make_export(tmp_path_factory.mktemp("big") / "conversations.json", 30)


def test_cli_uses_workers_for_a_big_export_and_matches_jobs_1(big_export, tmp_path):
    outs = {}
    for jobs in ("1", "2"):
        here = tmp_path / jobs
        here.mkdir()
        out = here / "out.jsonl"
        r = start(["convert", str(big_export), "-o", "out.jsonl", "--jobs", jobs], here)
        _, err = r.communicate()
        assert r.returncode == 0, err.decode()
        outs[jobs] = (out.read_bytes(), err.decode())  # the summary table is on stderr
    assert "examples written" in outs["1"][1]
    assert outs["2"] == outs["1"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the process tree from /proc")
def test_killing_miner_leaves_no_worker_behind(big_export, tmp_path):
    out = tmp_path / "out.jsonl"
    p = start(["convert", str(big_export), "-o", str(out), "--jobs", "2"], tmp_path, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(descendants(p.pid)) < 3:  # the fork server and two workers (and a resource tracker)
            assert p.poll() is None and time.monotonic() < deadline, "workers never started"
            time.sleep(0.05)
        children = descendants(p.pid)
    finally:
        p.kill()  # like kill -9 or the out-of-memory killer: no chance to clean up
        p.wait()
    deadline = time.monotonic() + 20
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [c for c in children if alive(c)]
    for c in left:  # do not leave them running after a failure either
        os.kill(c, 9)
    assert not left, "worker processes outlived the killed miner"


@pytest.mark.skipif(os.name == "nt" or not os.path.isdir("/proc/self"), reason="POSIX signals, /proc")
@pytest.mark.parametrize("when", ["workers starting", "workers working"])
def test_ctrl_c_twice_exits_cleanly(big_export, tmp_path, when):
    """An impatient user presses Ctrl-C twice: while the workers start, or while they work."""
    out = tmp_path / "out.jsonl"
    p = start(["convert", str(big_export), "-o", str(out), "--jobs", "2"], tmp_path, stdout=subprocess.DEVNULL,
              start_new_session=True)  # a terminal sends Ctrl-C to the whole group
    deadline = time.monotonic() + 60
    while not (descendants(p.pid) if when == "workers starting" else writing(tmp_path)):
        assert p.poll() is None and time.monotonic() < deadline, f"never saw the {when}"
        time.sleep(0.005)
    try:
        os.killpg(p.pid, signal.SIGINT)
        time.sleep(0.04)
        os.killpg(p.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail("miner hung after Ctrl-C")
    err = err.decode()
    assert p.returncode in (130, 0), err  # 0: it had already finished
    assert "Traceback" not in err and "Fatal Python error" not in err, err
    assert not out.exists() or p.returncode == 0
    assert not partials(tmp_path)


# ---- the pool itself ------------------------------------------------------------------------

def _slow_square(batch: list[int]) -> list[int]:
    time.sleep(0.001 * (batch[0] % 7))  # batches finish out of order
    return [x * x for x in batch]


def _die(batch):
    os._exit(3)


def test_results_come_back_in_submission_order_with_bounded_batches_in_flight():
    got = []
    with parallel.OrderedPool(_slow_square, jobs=3, ahead=4) as pool:
        for i in range(60):
            for r in pool.submit([i, i + 1000]):
                got.append(r)
            assert len(pool._pending) <= 4
        got.extend(pool.drain())
    assert got == [[i * i, (i + 1000) ** 2] for i in range(60)]


def test_a_worker_that_dies_is_a_clear_error_not_a_hang():
    with pytest.raises(parallel.WorkerDied, match="--jobs 1"):
        with parallel.OrderedPool(_die, jobs=2) as pool:
            for _ in pool.submit([1]):
                pass
            list(pool.drain())


def test_auto_jobs_is_at_least_one_and_capped():
    assert 1 <= parallel.auto_jobs() <= parallel.MAX_AUTO_JOBS


def test_without_worker_processes_the_run_goes_on_in_one_process_and_says_so(mixed_export, tmp_path, monkeypatch):
    one, _ = _run([str(mixed_export)], tmp_path / "one.jsonl", 1)

    def unavailable(self, *a, **k):
        raise OSError(38, "Function not implemented: sem_open")  # what a sandbox without /dev/shm says

    monkeypatch.setattr(parallel.OrderedPool, "__init__", unavailable)
    again, s = _run([str(mixed_export)], tmp_path / "again.jsonl", 2)
    assert again == one
    assert any("converted in one process" in n for n in s.notes), s.notes


def _convert_in_a_daemon(args):
    src, out = args
    s = convert([src], out, ConvertOptions(force=True, jobs=2, parallel_min_bytes=0))
    return s.notes


def test_called_from_a_daemon_process_it_works_in_one_process(mixed_export, tmp_path):
    import multiprocessing as mp

    one, _ = _run([str(mixed_export)], tmp_path / "one.jsonl", 1)
    with mp.get_context("spawn").Pool(1) as pool:  # pool workers are daemons: no children allowed
        notes = pool.map(_convert_in_a_daemon, [(str(mixed_export), str(tmp_path / "d.jsonl"))])[0]
    assert (tmp_path / "d.jsonl").read_bytes() == one
    assert any("converted in one process" in n for n in notes), notes


def test_messages_cross_to_workers_with_every_field():
    import dataclasses
    import pickle

    from miner.models import Message

    m = Message("assistant", "It was the year the river forgot its name.", weight=0)
    assert pickle.loads(pickle.dumps(m)) == m
    # a field added to Message must be added to its __reduce__ too
    assert len(m.__reduce__()[1]) == len(dataclasses.fields(Message))
