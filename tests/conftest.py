"""Shared test set-up: every test gets its own user/cache directories, so nothing a test does
touches the developer's real cache or config."""
from __future__ import annotations

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.mktemp("miner-home")
    monkeypatch.setenv("MINER_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("MINER_USER_PATH", str(base / "user"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "xdg-cache"))
    for var in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    yield


@pytest.fixture
def samples() -> pathlib.Path:
    return SAMPLES
