"""`miner review` end to end in a real headless browser: Playwright driving Debian's Chromium
(/usr/bin/chromium; never `playwright install`) against the real server on a free loopback port.

An author loads a dataset, sorts by size, deletes the biggest example, edits a turn in place,
finds and replaces an artifact after previewing it, saves, and the saved file has exactly those
changes. Without Chromium the test is skipped locally and fails under CI (CI=true)."""
from __future__ import annotations

import os
import shutil

import orjson
import pytest

from miner.review.app import ReviewServer
from miner.review.store import Store

CHROMIUM = os.environ.get("MINER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _need(what: str) -> None:
    reason = f"{what} (install it with: apt-get install -y chromium; pip install playwright)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test, but {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser_page(tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("the playwright package is not installed")
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        _need(f"Chromium is not at {CHROMIUM}")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        ctx.set_default_timeout(20_000)
        try:
            yield ctx.pages[0] if ctx.pages else ctx.new_page()
        finally:
            ctx.close()


def chat(i: int) -> dict:
    answer = ("Certainly! " if i % 3 == 0 else "") + "The tide came in slowly. " * (i % 11 + 1)
    if i == 17:
        answer = "The longest answer of all. " * 40
    return {"messages": [{"role": "system", "content": "Write as Maya."},
                         {"role": "user", "content": f"Scene {i}: the harbour at dawn"},
                         {"role": "assistant", "content": answer}], "source": f"export.zip#{i}"}


@pytest.fixture
def served(tmp_path):
    src = tmp_path / "wlm.jsonl"
    src.write_bytes(b"".join(orjson.dumps(chat(i)) + b"\n" for i in range(1, 61)))
    store = Store.open(str(src))
    srv = ReviewServer(store, port=0)
    srv.start_stats()
    srv.start_in_thread()
    try:
        yield srv, str(src)
    finally:
        srv.shutdown()
        store.close()


def test_review_sort_delete_edit_replace_and_save_in_a_real_browser(browser_page, served):
    page = browser_page
    srv, src = served
    original = open(src, "rb").read()

    page.goto(srv.url)
    assert "token=" not in page.url  # traded for a cookie at once
    assert page.locator("#examples tbody tr").count() == 50  # paged, not all 60 at once
    assert page.locator("text=60 examples match; page 1 of 2.").is_visible()

    # Sort by size: the biggest example comes first.
    page.click("#sort-tokens")
    first = page.locator("#examples tbody tr").first
    assert first.get_attribute("data-id") == "17"

    # Open it and delete it; the page moves on to the next biggest.
    first.locator("a.open").click()
    assert page.locator("h1").inner_text().startswith("Line 17")
    page.click("#delete")
    assert "Deleted" in page.locator("#notice").inner_text()
    assert not page.locator("h1").inner_text().startswith("Line 17")

    # Edit a turn in place: the Save turn button wakes up once the text changes.
    page.goto(srv.url.split("?")[0] + "example/2")
    answer = page.locator("#turn-3 textarea")
    save_turn = page.locator("#turn-3 .save-turn")
    assert save_turn.is_disabled()
    answer.fill("A new answer, written by hand.")
    assert save_turn.is_enabled()
    save_turn.click()
    assert page.locator("#notice").inner_text() == "Turn 3 saved."
    assert page.locator("#turn-3 textarea").input_value() == "A new answer, written by hand."

    # Find and replace an artifact, with a preview first.
    page.click("text=Find & replace")
    page.fill("#find", "Certainly! ")
    page.fill("#replacement", "")
    page.click("#preview")
    assert page.locator("#preview-result h2").inner_text() == "20 matches in 20 examples"
    assert page.locator("#preview-result del").first.inner_text() == "Certainly! "
    page.click("#apply")
    assert page.locator("#notice").inner_text().startswith("Replaced 20 matches in 20 examples")

    # Save, and check the file itself.
    page.click("#save")
    assert "Saved 59 examples" in page.locator("#notice").inner_text()
    with open(srv.store.out, "rb") as f:
        saved = [orjson.loads(line) for line in f]
    assert len(saved) == 59
    assert [o["source"] for o in saved] == [f"export.zip#{i}" for i in range(1, 61) if i != 17]
    by_source = {o["source"]: o for o in saved}
    assert by_source["export.zip#2"]["messages"][2]["content"] == "A new answer, written by hand."
    assert not any("Certainly!" in m["content"] for o in saved for m in o["messages"])
    assert by_source["export.zip#3"]["messages"][2]["content"] == "The tide came in slowly. " * 4
    assert open(src, "rb").read() == original
