"""The review web app over HTTP: the security model (token, CSRF, Host, no CORS), the pages and
actions an author uses, and the `miner review` command (a real server, a real Ctrl-C)."""
from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from html import unescape
from urllib.parse import urlsplit

import orjson
import pytest
from click.testing import CliRunner

from miner.review import stats as review_stats
from miner.review.app import ReviewServer, create_app
from miner.review.store import Store

TOKEN = "test-token-0123456789"


def chat(user, answer, **extra):
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}], **extra}


def write_jsonl(path, objs) -> str:
    with open(path, "wb") as f:
        for o in objs:
            f.write(orjson.dumps(o) + b"\n")
    return str(path)


@pytest.fixture
def dataset(tmp_path):
    objs = [chat(f"Question {i}: tell me about the sea", ("As an AI, " if i % 10 == 0 else "") + "wave " * i,
                 source=f"export.zip#{i}") for i in range(1, 121)]
    return write_jsonl(tmp_path / "wlm.jsonl", objs)


def refusals(path):
    """A small real statistics function: reads the real temp file, flags lines with 'As an AI'."""
    flags, n = {}, 0
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, 1):
            n += bool(line.strip())
            if b"As an AI" in line:
                flags[line_no] = {"refusal"}
    return flags, {"examples": n, "phrases": [{"phrase": "wave wave", "examples": n, "share": 1.0, "lines": [1, 2]}]}


@pytest.fixture
def store(dataset):
    s = Store.open(dataset)
    yield s
    s.close()


@pytest.fixture
def worker(store):
    w = review_stats.StatsWorker(store, compute_fn=refusals)
    w.refresh_now()
    return w


@pytest.fixture
def client(store, worker):
    app = create_app(store, TOKEN, worker=worker)
    c = app.test_client()
    r = c.get(f"/?token={TOKEN}")
    assert r.status_code == 303
    return c


def post(client, path, data=None, **kw):
    return client.post(path, data={"csrf": TOKEN, **(data or {})}, **kw)


def notice_of(client, response) -> str:
    """Follow a redirect and return the notice the next page shows."""
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    m = re.search(r'<div class="notice[^"]*"[^>]*>(.*?)</div>', page, re.S)
    return unescape(m.group(1)).strip() if m else ""


# ---- security --------------------------------------------------------------------------------

def test_every_page_needs_the_token(store, worker):
    c = create_app(store, TOKEN, worker=worker).test_client()
    for path in ("/", "/example/1", "/replace", "/stats", "/api/status", "/static/review.css"):
        r = c.get(path)
        assert r.status_code == 403, path
        assert "private link printed by `miner review`" in r.get_data(as_text=True)
    assert c.get("/?token=wrong").status_code == 403


def test_the_token_link_sets_a_strict_private_cookie_and_leaves_the_address_bar(store, worker):
    c = create_app(store, TOKEN, worker=worker).test_client()
    r = c.get(f"/?token={TOKEN}&sort=tokens")
    assert r.status_code == 303 and r.headers["Location"] == "/?sort=tokens"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN in cookie
    assert c.get("/").status_code == 200


def test_changes_need_the_token_in_the_form_not_just_the_cookie(client, store):
    # What a hostile page could make the browser send: a form post with cookies but no token.
    r = client.post("/example/1/delete", data={"then": "stay"})
    assert r.status_code == 403 and not store.get(1).deleted
    r = client.post("/example/1/delete", data={"csrf": "guess", "then": "stay"})
    assert r.status_code == 403 and not store.get(1).deleted
    r = client.post("/example/1/delete", data={"then": "stay"}, headers={"X-Miner-Token": TOKEN})
    assert r.status_code == 303 and store.get(1).deleted


def test_state_changes_are_post_only(client, store):
    for path in ("/save", "/undo", "/example/1/delete", "/example/1/turn/0"):
        assert client.get(path).status_code == 405, path
    assert not os.path.exists(store.out)


def test_requests_for_another_host_name_are_refused(client):
    # DNS rebinding: evil.example resolving to 127.0.0.1 would send Host: evil.example.
    r = client.get("/", headers={"Host": "evil.example:8000"})
    assert r.status_code == 421
    r = client.get(f"/?token={TOKEN}", headers={"Host": "evil.example"})
    assert r.status_code == 421
    for ok in ("127.0.0.1:5555", "[::1]:5555", "localhost"):
        assert client.get(f"/?token={TOKEN}", headers={"Host": ok}).status_code == 303, ok


def test_no_cors_and_a_strict_content_security_policy(client):
    r = client.get("/", headers={"Origin": "http://evil.example"})
    assert not [h for h in r.headers.keys() if h.lower().startswith("access-control-")]
    pre = client.options("/save", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert not [h for h in pre.headers.keys() if h.lower().startswith("access-control-")]
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Frame-Options"] == "DENY"


def test_the_page_uses_only_local_assets(client):
    html = client.get("/").get_data(as_text=True)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert client.get("/static/review.js").status_code == 200
    assert client.get("/static/review.css").status_code == 200


def test_text_from_the_dataset_is_escaped(tmp_path):
    store = Store.open(write_jsonl(tmp_path / "x.jsonl", [chat("<script>alert(1)</script>", "<img src=x onerror=alert(2)>")]))
    c = create_app(store, TOKEN).test_client()
    c.get(f"/?token={TOKEN}")
    for path in ("/", "/example/1", "/replace?find=%3Cimg"):
        html = c.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "&lt;img src=x" in html


def test_the_server_refuses_non_loopback_addresses_unless_allowed(store):
    with pytest.raises(Exception, match="--allow-remote"):
        ReviewServer(store, host="0.0.0.0")


# ---- the list --------------------------------------------------------------------------------

def rows_of(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr class="[^"]*" data-id="(\d+)"', html)]


def test_the_list_shows_fifty_examples_a_page_with_previews(client):
    html = client.get("/").get_data(as_text=True)
    assert rows_of(html) == list(range(1, 51))
    assert "Question 1: tell me about the sea" in html and "export.zip#1" in html
    assert "120 examples match; page 1 of 3" in html
    assert rows_of(client.get("/?page=3").get_data(as_text=True)) == list(range(101, 121))


def test_sorting_by_size_shows_the_biggest_first(client):
    html = client.get("/?sort=tokens").get_data(as_text=True)
    assert rows_of(html)[:3] == [120, 119, 118]
    assert rows_of(client.get("/?sort=tokens&order=asc").get_data(as_text=True))[:2] == [1, 2]


def test_search_and_warning_filters(client):
    assert rows_of(client.get("/?q=question+7:").get_data(as_text=True)) == [7]
    flagged = client.get("/?flag=refusal").get_data(as_text=True)
    assert rows_of(flagged) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]
    assert "refusal (12)" in client.get("/").get_data(as_text=True)


def test_unknown_query_values_fall_back_to_defaults(client):
    assert client.get("/?sort=evil&order=x&status=nope&flag=zz&page=abc").status_code == 200


# ---- an example ------------------------------------------------------------------------------

def test_the_example_page_shows_the_whole_conversation_in_editable_turns(client):
    html = client.get("/example/3").get_data(as_text=True)
    assert html.count("<textarea") == 2
    assert "wave wave wave" in html and "export.zip#3" in html
    assert 'id="next"' in html and 'id="prev"' in html
    assert client.get("/example/9999").status_code == 404


def test_a_turn_that_starts_with_a_newline_keeps_it(tmp_path):
    store = Store.open(write_jsonl(tmp_path / "x.jsonl", [chat("q", "\nIndented start")]))
    c = create_app(store, TOKEN).test_client()
    c.get(f"/?token={TOKEN}")
    html = c.get("/example/1").get_data(as_text=True)
    # Browsers drop one newline right after <textarea>; the page sends an extra one.
    assert re.search(r'aria-label="assistant turn 2">\n\nIndented start</textarea>', html)


def test_editing_a_turn(client, store):
    r = post(client, "/example/2/turn/1?sort=tokens", {"content": "A calmer answer."})
    assert r.status_code == 303 and r.headers["Location"].startswith("/example/2?sort=tokens")
    assert "#turn-2" in r.headers["Location"]
    assert notice_of(client, r) == "Turn 2 saved."
    assert store.get(2).messages[1]["content"] == "A calmer answer."
    html = client.get("/example/2").get_data(as_text=True)
    assert "Show the original text of this turn" in html and "Revert to original" in html


def test_delete_then_next_moves_on_and_undo_brings_it_back(client, store):
    r = post(client, "/example/5/delete?sort=tokens", {"then": "next"})
    assert store.get(5).deleted
    assert r.headers["Location"].startswith("/example/4?sort=tokens")  # next smaller
    assert "Deleted" in notice_of(client, r)
    assert 5 not in rows_of(client.get("/?sort=tokens&page=3").get_data(as_text=True))
    assert "Undo deletion of line 5" in client.get("/").get_data(as_text=True)
    r = post(client, "/undo", {"back": "/example/5"})
    assert r.headers["Location"].startswith("/example/5")
    assert not store.get(5).deleted


def test_mark_reviewed_then_next(client, store):
    r = post(client, "/example/1/reviewed", {"value": "1", "then": "next"})
    assert store.get(1).reviewed and r.headers["Location"].startswith("/example/2")
    assert rows_of(client.get("/?status=reviewed").get_data(as_text=True)) == [1]


def test_redirects_stay_on_this_site(client):
    r = post(client, "/undo", {"back": "//evil.example/x"})
    assert r.headers["Location"].startswith("/?") or r.headers["Location"] == "/"
    r = post(client, "/save", {"back": "https://evil.example/"})
    assert urlsplit(r.headers["Location"]).netloc in ("", "localhost")


# ---- find / replace, statistics, save --------------------------------------------------------

def test_find_and_replace_previews_then_applies(client, store):
    html = client.get("/replace?find=As+an+AI%2C+&replace=&role=assistant").get_data(as_text=True)
    assert "12 matches in 12 examples" in html
    assert "<del>As an AI, </del><ins></ins>" in html
    assert store.get(10).messages[1]["content"].startswith("As an AI")  # a preview changes nothing
    r = post(client, "/replace", {"find": "As an AI, ", "replace": "", "role": "assistant", "expected": "12"})
    assert notice_of(client, r).startswith("Replaced 12 matches in 12 examples")
    assert store.get(10).messages[1]["content"].startswith("wave")


def test_a_stale_preview_is_not_applied(client, store):
    store.set_deleted(10, True)
    r = post(client, "/replace", {"find": "As an AI, ", "replace": "", "expected": "12"})
    assert "preview showed 12 examples but 11 match now" in notice_of(client, r)
    assert store.get(20).messages[1]["content"].startswith("As an AI")


def test_a_bad_regular_expression_is_explained_on_the_page(client):
    html = client.get("/replace?find=%28oops&regex=1").get_data(as_text=True)
    assert "is not a valid regular expression" in html


def test_statistics_update_after_a_change(client, store, worker):
    assert "wave wave" in client.get("/stats").get_data(as_text=True)
    post(client, "/replace", {"find": "As an AI, ", "replace": ""})
    status = client.get("/api/status").get_json()
    assert status["unsaved"] and not status["up_to_date"]
    worker.refresh_now()
    assert client.get("/api/status").get_json()["up_to_date"]
    assert rows_of(client.get("/?flag=refusal").get_data(as_text=True)) == []


def test_save_writes_the_reviewed_copy_and_says_so(client, store, dataset):
    original = open(dataset, "rb").read()
    post(client, "/example/1/delete", {"then": "stay"})
    r = post(client, "/save", {"back": "/"})
    assert notice_of(client, r) == f"Saved 119 examples to {store.out} (1 deleted left out)."
    assert open(dataset, "rb").read() == original
    assert len(open(store.out, "rb").read().splitlines()) == 119
    assert "Everything is saved" in client.get("/").get_data(as_text=True)


def test_save_problems_are_shown_not_crashed(client, store, dataset):
    with open(dataset, "ab") as f:
        f.write(orjson.dumps(chat("late", "addition")) + b"\n")
    r = post(client, "/save", {"back": "/"})
    assert "Not saved:" in notice_of(client, r) and "has changed" in notice_of(client, post(client, "/save"))
    assert not os.path.exists(store.out)


# ---- a real server and the command -----------------------------------------------------------

def test_a_real_threaded_server_on_loopback(store):
    srv = ReviewServer(store, port=0, compute_fn=refusals)
    srv.start_in_thread()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("GET", "/?" + urlsplit(srv.url).query)
        r = conn.getresponse()
        r.read()
        assert r.status == 303
        cookie = r.getheader("Set-Cookie").split(";")[0]
        assert cookie.startswith(f"miner_review_{srv.port}=")  # one cookie per running review
        conn.request("POST", "/example/1/delete", body="then=stay",
                     headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        r.read()
        assert r.status == 403 and not store.get(1).deleted
        conn.request("POST", "/example/1/delete", body=f"then=stay&csrf={srv.token}",
                     headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        r.read()
        assert r.status == 303 and store.get(1).deleted
        conn.close()
    finally:
        srv.shutdown()


def test_cli_refuses_a_public_address_without_allow_remote(dataset):
    from miner.cli import cli

    r = CliRunner().invoke(cli, ["review", dataset, "--host", "0.0.0.0"])
    assert r.exit_code == 1
    assert "would let other machines reach your writing" in r.output and "--allow-remote" in r.output
    assert not os.path.exists(dataset.replace(".jsonl", ".reviewed.jsonl.review.sqlite"))


def test_cli_help_has_examples():
    from miner.cli import cli

    r = CliRunner().invoke(cli, ["review", "--help"])
    assert r.exit_code == 0 and "miner review wlm.jsonl" in r.output and "--allow-remote" in r.output


def test_cli_serves_until_ctrl_c_and_keeps_unsaved_edits(dataset):
    proc = subprocess.Popen([sys.executable, "-m", "miner", "review", dataset, "--port", "0", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
            url = m.group(1) if m else None
        assert url, proc.stderr.read()
        parts = urlsplit(url)
        token = parts.query.split("=", 1)[1]
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        conn.request("POST", "/example/3/delete", body="then=stay", headers={
            "X-Miner-Token": token, "Cookie": f"miner_review_{parts.port}={token}",
            "Content-Type": "application/x-www-form-urlencoded"})
        assert conn.getresponse().status == 303
        conn.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "unsaved edits are kept in" in err and "Traceback" not in err
    again = Store.open(dataset)
    assert again.get(3).deleted
    again.close()


def test_the_statistics_page_shows_the_miner_stats_report_with_links_to_the_lines(tmp_path):
    objs = [chat(f"Prompt number {i} about {'boats' if i % 2 else 'bread'}",
                 f"Answer {i} with words {i * 7} and {i * 13}." + (" She bit her lip and looked away." if i % 3 == 0 else ""))
            for i in range(1, 31)]
    store = Store.open(write_jsonl(tmp_path / "d.jsonl", objs))
    worker = review_stats.StatsWorker(store)
    worker.refresh_now()
    c = create_app(store, TOKEN, worker=worker).test_client()
    c.get(f"/?token={TOKEN}")
    html = c.get("/stats").get_data(as_text=True)
    assert "Statistics and warnings are up to date." in html
    assert "is in 33% of the examples" in unescape(html)  # miner stats' own warning
    assert '<a href="/example/3">3</a>' in html  # phrase lines open the example
    assert re.search(r'href="/replace\?find=[^"]*bit[^"]*&amp;role=assistant"', html)
    assert "tokens per example" in html and "Lengths" in html
    store.close()
