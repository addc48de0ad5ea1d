"""`miner stats --html`: one self-contained file with its charts, nothing loaded from anywhere,
and dataset text escaped."""
from __future__ import annotations

import base64
import random
import re

import orjson
from click.testing import CliRunner

from miner.cli import cli

WORDS = "lantern harbor meadow violin letter garden kettle window ladder compass bakery station mirror valley".split()


def dataset(tmp_path, n=40):
    r = random.Random(3)
    rows = []
    for i in range(n):
        a = " ".join(r.choice(WORDS) for _ in range(r.randint(20, 60))) + "."
        if i % 2:
            a += " She bit her lip."
        rows.append(orjson.dumps({"source": "novel.docx" if i % 3 else "essays.pdf", "messages": [
            {"role": "system", "content": "You are <script>alert(1)</script> Quill."},
            {"role": "user", "content": f"Scene {i}"}, {"role": "assistant", "content": a}]}))
    p = tmp_path / "wlm.jsonl"
    p.write_bytes(b"\n".join(rows) + b"\n")
    return p


def test_html_report_is_self_contained_and_has_its_charts(tmp_path):
    src, out = dataset(tmp_path), tmp_path / "report.html"
    r = CliRunner().invoke(cli, ["stats", str(src), "--html", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"https?://", html)  # nothing to fetch, no links out
    assert not re.search(r"<(script|link|iframe)\b", html, re.I)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"', html)
    alts = {alt for _, alt in images}
    assert {"histogram of tokens per example", "phrase shares", "examples per source"} <= alts
    for data, _ in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "she bit her lip" in html


def test_dataset_text_is_escaped(tmp_path):
    out = tmp_path / "r.html"
    CliRunner().invoke(cli, ["stats", str(dataset(tmp_path)), "--html", str(out), "-q"], catch_exceptions=False)
    html = out.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_existing_report_needs_force(tmp_path):
    out = tmp_path / "r.html"
    out.write_text("keep me")
    r = CliRunner().invoke(cli, ["stats", str(dataset(tmp_path)), "--html", str(out)])
    assert r.exit_code == 1 and "--force" in r.output and out.read_text() == "keep me"
