"""API keys and privacy. `miner synth` runs as a real process with a distinctive fake key,
through success and through failures that push the key at miner: a 401 whose error body
echoes the key, a 500 and a 400 that quote it, and a base URL carrying it as a password. Then
EVERY file the run could have written (the output, the cache and its -wal/-shm/-journal
files, the job state, temporary files, anything under HOME, the cache folder and the
temporary folder, which all point into the test's folder) and stdout/stderr, with the SDKs'
debug logging on, are searched for the key.

And where things go: the cache lives in the user's cache folder (platformdirs, or
MINER_CACHE_DIR), never beside the dataset unless asked (--cache FILE); --no-cache writes no
cache at all.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from llm_server import LLMServer, Recorded, Reply, schema_responder

ROOT = Path(__file__).resolve().parent.parent
# Two shapes of key: one like OpenAI's (caught by pattern too), one that only the provider's
# own list of secrets can recognise.
KEYS = ["sk-proj-LEAKCHECK9f8e7d6c5b4a3210zz", "local-KEY-7f3a9c0e-DISTINCTIVE-x"]


@pytest.fixture
def llm_server():
    with LLMServer() as srv:
        yield srv


def sandbox(tmp_path: Path) -> tuple[Path, dict]:
    """A home, cache folder and temporary folder inside tmp_path, so every file a run writes
    is under tmp_path."""
    for d in ("home", "xdg-cache", "xdg-config", "xdg-data", "tmp", "data"):
        (tmp_path / d).mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("MINER_CACHE_DIR", "OPENAI_API_KEY", "GEMINI_API_KEY",
                                                             "GOOGLE_API_KEY", "OPENAI_BASE_URL")}
    env.update({"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
                "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"), "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
                "TMPDIR": str(tmp_path / "tmp"), "PYTHONPATH": str(ROOT),
                "OPENAI_LOG": "debug", "HTTPX_LOG_LEVEL": "trace", "PYTHONWARNINGS": "always"})
    return tmp_path / "data", env


def chunks(folder: Path, n: int = 6) -> Path:
    src = folder / "chunks.jsonl"
    src.write_bytes(b"".join(orjson.dumps({"text": f"Passage {i}: rain on the slate roofs, {i} o'clock.",
                                           "source": "n.md", "document": "N", "section": ["C"], "index": i,
                                           "tokens": 15}) + b"\n" for i in range(n)))
    return src


def run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "miner", *args], cwd=cwd, env=env, capture_output=True, timeout=300)


def files_under(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, fs in os.walk(root) for f in fs]


def assert_key_nowhere(key: str, root: Path, proc: subprocess.CompletedProcess) -> list[Path]:
    k = key.encode()
    leaks = [p for p in files_under(root) if k in p.read_bytes()]
    assert not leaks, f"the key is in {leaks}"
    assert k not in proc.stdout and k not in proc.stderr, proc.stderr.decode()[-3000:]
    # not even a recognisable piece of it
    assert k[-16:] not in proc.stdout + proc.stderr
    return files_under(root)


def _echo(status: int, key: str, api: str = "openai"):
    return Reply.error(status, f"Incorrect API key provided: {key}. You can find your API key at ...", api=api)


SCENARIOS = {
    "success": lambda key: [],
    "401 echoing the key": lambda key: [_echo(401, key)],
    "500s quoting the key, then success": lambda key: [Reply.error(500, f"upstream rejected key={key}")] * 2,
    "400 quoting the key for one passage": lambda key: [Reply.error(400, f"bad request for key {key}")],
    "500s until the retries give up": lambda key: [Reply.error(500, f"boom {key}")] * 50,
}


SLOW = pytest.mark.slow  # each run is a real process (a few seconds); the full matrix runs under -m slow


@pytest.mark.parametrize("scenario,key", [
    (scenario, key) if (scenario, key) in {("success", KEYS[1]), ("401 echoing the key", KEYS[1]),
                                           ("500s quoting the key, then success", KEYS[0])}
    else pytest.param(scenario, key, marks=SLOW)
    for scenario in SCENARIOS for key in KEYS
])
def test_key_never_written_anywhere_openai(scenario, key, tmp_path, llm_server):
    data, env = sandbox(tmp_path)
    env["OPENAI_API_KEY"] = key
    llm_server.queue(*SCENARIOS[scenario](key))
    src = chunks(data)
    out = data / "out.jsonl"
    proc = run(["synth", str(src), "-o", str(out), "--provider", "openai", "--base-url", llm_server.openai_url,
                "--model", "gpt-4o-mini", "--concurrency", "1", "--retries", "3"], data, env)
    expect_ok = scenario in ("success", "500s quoting the key, then success", "400 quoting the key for one passage")
    assert (proc.returncode == 0) == expect_ok, proc.stderr.decode()[-2000:]
    assert llm_server.count() >= 1
    # the key did reach the server (so it was really in play) ...
    assert all(key in r.headers.get("authorization", "") for r in llm_server.requests)
    # ... and nowhere else
    assert b"DEBUG" in proc.stderr  # the SDK's debug log was on, and searched too
    written = assert_key_nowhere(key, tmp_path, proc)
    assert any(p.name.endswith(".sqlite3") for p in written)  # the cache was there to be searched
    if scenario == "401 echoing the key":
        assert b"refused the API key" in proc.stderr


@pytest.mark.parametrize("scenario", [pytest.param("success", marks=SLOW), "401 echoing the key"])
def test_key_never_written_anywhere_gemini(scenario, tmp_path, llm_server):
    key = "AIzaSyLEAKCHECK-0123456789abcdefghij"
    data, env = sandbox(tmp_path)
    env["GEMINI_API_KEY"] = key
    if scenario != "success":
        llm_server.queue(_echo(401, key, api="gemini"))
    llm_server.responder = lambda r: schema_responder(r)
    src = chunks(data)
    proc = run(["synth", str(src), "-o", str(data / "out.jsonl"), "--provider", "gemini", "--base-url",
                llm_server.url, "--concurrency", "1"], data, env)
    assert (proc.returncode == 0) == (scenario == "success"), proc.stderr.decode()[-2000:]
    assert all(key in r.headers.get("x-goog-api-key", "") + r.path for r in llm_server.requests)
    assert_key_nowhere(key, tmp_path, proc)


def test_key_in_the_base_url_is_not_repeated_anywhere(tmp_path, llm_server):
    """A key pasted into the URL (user:password@host): it must not reach errors, summaries,
    the cache key or the job state, even when the server cannot be reached."""
    secret = "urlpass-SECRET-4242-abcdef"
    data, env = sandbox(tmp_path)
    src = chunks(data)
    for url in (f"http://me:{secret}@127.0.0.1:{llm_server.port}/v1", f"http://me:{secret}@127.0.0.1:1/v1"):
        proc = run(["synth", str(src), "-o", str(data / "out.jsonl"), "--provider", "openai", "--base-url", url,
                    "--retries", "1", "--force"], data, env)
        assert_key_nowhere(secret, tmp_path, proc)


def _sqlite_files(root: Path) -> list[Path]:
    return [p for p in files_under(root) if ".sqlite" in p.name]


def test_cache_goes_to_the_user_cache_folder_not_beside_the_data(tmp_path, llm_server):
    data, env = sandbox(tmp_path)
    env["OPENAI_API_KEY"] = KEYS[0]
    src = chunks(data)
    proc = run(["synth", str(src), "-o", str(data / "out.jsonl"), "--provider", "openai", "--base-url",
                llm_server.openai_url], data, env)
    assert proc.returncode == 0, proc.stderr.decode()
    cache = _sqlite_files(tmp_path)
    assert cache and all(p.is_relative_to(tmp_path / "xdg-cache" / "miner") for p in cache), cache
    assert sorted(p.name for p in data.iterdir()) == ["chunks.jsonl", "out.jsonl"]  # nothing else beside the data
    assert oct(cache[0].stat().st_mode & 0o777) == "0o600"  # the cache holds text from the author's writing

    env["MINER_CACHE_DIR"] = str(tmp_path / "elsewhere")
    proc = run(["synth", str(src), "-o", str(data / "out2.jsonl"), "--provider", "openai", "--base-url",
                llm_server.openai_url], data, env)
    assert proc.returncode == 0
    assert any(p.is_relative_to(tmp_path / "elsewhere") for p in _sqlite_files(tmp_path))

    own = data / "my-cache.sqlite3"
    proc = run(["synth", str(src), "-o", str(data / "out3.jsonl"), "--provider", "openai", "--base-url",
                llm_server.openai_url, "--cache", str(own)], data, env)
    assert proc.returncode == 0 and own.exists()  # beside the data only when asked


def test_no_cache_writes_no_cache(tmp_path, llm_server):
    data, env = sandbox(tmp_path)
    env["OPENAI_API_KEY"] = KEYS[1]
    src = chunks(data)
    for i in range(2):
        proc = run(["synth", str(src), "-o", str(data / f"out{i}.jsonl"), "--provider", "openai", "--base-url",
                    llm_server.openai_url, "--no-cache"], data, env)
        assert proc.returncode == 0, proc.stderr.decode()
    assert _sqlite_files(tmp_path) == []
    assert sorted(p.name for p in data.iterdir()) == ["chunks.jsonl", "out0.jsonl", "out1.jsonl"]
    assert llm_server.count() == 2 * 6  # nothing was remembered: every call made twice
