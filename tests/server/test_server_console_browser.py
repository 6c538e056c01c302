"""The web console end to end in headless Chromium (Debian's, driven by Playwright).

Serves a fitted tiny shop with uvicorn on loopback, then uses the console as a person
would: search, pick a shopper, click an item and watch the recommendations change, open
similar items and the latest evaluation report.  Screenshots are kept as test artifacts
(the pytest tmp dir, or $SHOPLM_ARTIFACTS when set).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from shoplm.heads import HeadConfig, LoraSettings
from shoplm.heads.home import train_home_head
from shoplm.realtime import RealtimeSettings
from shoplm.server import ServerSettings, create_app
from shoplm.server.auth import KeyStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def console_url(served_home, labelled_reviews):
    quick_lora = HeadConfig(
        mode="lora", epochs=1, max_seq_length=16, batch_size=8,
        lora=LoraSettings(r=4, alpha=8, layers=1),
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:  # the probe validates higher: it is saved
        patch.setattr(
            "shoplm.heads.home.validated_score",
            lambda head: 0.9 if head.config.mode == "probe" else 0.5,
        )
        train_home_head(served_home, "mood", labelled_reviews, quick_lora)
    reports = served_home / "reports"
    reports.mkdir()
    (reports / "office-recommend.html").write_text(
        "<html><body><h1>Evaluation: amazon_office</h1><table><tr><td>NDCG@10</td></tr>"
        "</table></body></html>"
    )
    settings = ServerSettings(compute_threads=None, realtime=RealtimeSettings(explore_slots=0))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(served_home, settings), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("SHOPLM_ARTIFACTS", tmp_path)) / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(artifacts):
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's chromium "
            "(run `bash .ci/install-browser`, i.e. apt-get install -y chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        requested: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requested.append(request.url))
        yield page
        page.screenshot(path=str(artifacts / "last-page.png"), full_page=True)
        browser.close()
        assert not errors, f"JavaScript errors in the console page: {errors}"
        outside = [url for url in requested if not url.startswith("http://127.0.0.1:")]
        assert not outside, f"the console fetched outside assets: {outside}"


def rec_ids(page) -> list[str]:
    return page.locator("#recs > li[data-item]").evaluate_all(
        "nodes => nodes.map(n => n.dataset.item)"
    )


def test_console_search_shopper_events_similar_and_report(
    console_url, served_home, page, artifacts
):
    key, _ = KeyStore(served_home).create("console", "write")
    page.goto(f"{console_url}/console/")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("document.querySelector('#health').textContent.includes('items')")
    page.fill("#api-key", key)

    # search, with the reason each result matched
    page.fill("#search-q", "coffee grinder")
    page.click("#search-go")
    first = page.locator("#search-results > li").first
    first.wait_for()
    assert "Brewmaster coffee grinder" in first.locator(".title").inner_text()
    assert "matched" in first.locator(".why").inner_text()
    page.screenshot(path=str(artifacts / "search.png"), full_page=True)

    # pick a shopper: profile and recommendations
    page.wait_for_selector("#user-pick option[value='u7']", state="attached")
    page.select_option("#user-pick", "u7")
    page.wait_for_selector("#recs > li[data-item]")
    page.wait_for_function("document.querySelector('#profile').textContent.includes('u7')")
    assert "Audio > Headphones" in page.inner_text("#profile")
    before = rec_ids(page)
    assert before and "why:" in page.inner_text("#recs")

    # the event simulator: the audio shopper clicks the coffee grinder; the list changes
    page.locator("#search-results > li[data-item='c2'] button.click").click()
    page.wait_for_function("document.querySelector('#notice').textContent.includes('recorded')")
    page.wait_for_function(
        "before => { const ids = [...document.querySelectorAll('#recs > li[data-item]')]"
        ".map(n => n.dataset.item); return ids.join() !== before.join(); }",
        arg=before,
    )
    after = rec_ids(page)
    assert after != before and "c2" not in after
    assert page.locator("#event-log li").count() == 1
    assert "live session" in page.inner_text("#profile")
    page.screenshot(path=str(artifacts / "after-click.png"), full_page=True)

    # similar items
    page.locator("#search-results > li").first.locator("button", has_text="similar").click()
    page.wait_for_selector("#similar > li[data-item]")
    assert "similar to c2" in page.inner_text("#similar")

    # the API reference, read from openapi.json (no external assets)
    assert "POST /v1/events/batch" in page.inner_text("#api-list")
    page.screenshot(path=str(artifacts / "console.png"), full_page=True)

    # the latest evaluation report
    link = page.locator("#report-link")
    link.wait_for()
    assert link.inner_text() == "office-recommend.html"
    page.goto(console_url + link.get_attribute("href"))
    assert "Evaluation: amazon_office" in page.inner_text("h1")
    assert (artifacts / "search.png").stat().st_size > 0


def test_console_predicts_with_a_task_head(console_url, page, artifacts):
    page.goto(f"{console_url}/console/")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#head-pick option[value='mood']", state="attached")
    meta = page.inner_text("#head-meta")
    assert "probe head (validated above lora), test: macro_f1 " in meta
    page.fill("#head-texts", "these pens: waste of money\nthe office chair: love it")
    page.click("#head-go")
    page.wait_for_selector("#head-answers > li[data-label]")
    labels = page.locator("#head-answers > li").evaluate_all(
        "nodes => nodes.map(n => n.dataset.label)"
    )
    assert labels == ["negative", "positive"]
    assert "negative 0." in page.inner_text("#head-answers")
    page.screenshot(path=str(artifacts / "heads.png"), full_page=True)
