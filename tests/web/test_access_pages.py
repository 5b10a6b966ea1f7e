"""Sign-in, roles and the audit trail through the real pages (AppTest), with the person set through
`chatkit.web.identity` (AppTest cannot fake st.user): allowed, refused, admin-only hidden and refused
when crafted, and audit rows that name who did it."""

from __future__ import annotations

import binascii
import hashlib
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from support import ROOT, StandInAnalyzer
from support.hostile import hostile_records

from chatkit.domain import sample
from chatkit.domain.access import Identity
from chatkit.domain.models import ChatKitSession
from chatkit.domain.text import csv_cell
from chatkit.settings import load_settings
from chatkit.store import Store
from chatkit.web import identity
from chatkit.web.nav import PAGE_FILES
from chatkit.worker import run_job

APP = str(ROOT / "app.py")
TIMEOUT = 60
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret-just-for-appt",
    "client_id": "chatkit-dashboard",
    "client_secret": "not-a-real-client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ALICE = Identity.from_claims({"email": "alice@example.com", "email_verified": True, "name": "Alice"})
BOB = Identity.from_claims({"email": "bob@example.com", "email_verified": True, "groups": ["chatkit-admins"]})
EVE = Identity.from_claims({"email": "eve@evil-example.com", "email_verified": True})


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CHATKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LLM_PROVIDER", "offline")
    monkeypatch.setenv("AUTH_ALLOWED_DOMAINS", "example.com")
    monkeypatch.setenv("AUTH_ADMIN_GROUP", "chatkit-admins")
    for name in ("LLM_API_KEY", "CHATKIT_DATABASE_URL", "DASHBOARD_PASSWORD", "DASHBOARD_PASSWORD_HASH"):
        monkeypatch.delenv(name, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()


def store() -> Store:
    return Store.from_settings(load_settings())


def saved_sample(n: int = 60) -> str:
    return store().save_dataset("Sample", sample.sample_sessions(n), ["sample.json"])


def open_page(page: str, person: Identity | None, *, oidc: bool = True, **params: Any) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if oidc:
        at.secrets["auth"] = AUTH
    if person is not None:
        at.session_state[identity.TEST_IDENTITY] = person
    at.query_params.update(params)
    at.switch_page(PAGE_FILES[page])
    return at.run()


def text_of(at: AppTest) -> str:
    kinds = (
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
        "code",
        "title",
        "subheader",
        "text",
    )
    return "\n".join(str(e.value) for kind in kinds for e in at.get(kind))


def no_failure(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def rows(**filters: Any) -> list[tuple[str, str, str]]:
    """(actor, action, outcome), oldest first."""
    return [(r["actor"], r["action"], r["outcome"]) for r in reversed(store().audit_log(**filters))]


# ---- sign-in -----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGE_FILES))
def test_with_oidc_every_page_asks_for_sign_in_and_shows_nothing_else(page: str) -> None:
    dataset_id = saved_sample()
    at = open_page(page, None, ds=dataset_id)
    no_failure(at)
    assert "Sign in required" in text_of(at)
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.dataframe and not at.sidebar.selectbox and dataset_id not in text_of(at)
    assert "example.com" not in text_of(at)  # nothing about the configuration before the gate


def test_an_allowed_viewer_sees_who_is_signed_in_and_the_sign_in_is_audited_once() -> None:
    saved_sample()
    at = open_page("overview", ALICE)
    no_failure(at)
    assert "Signed in as alice@example.com (viewer)" in [t.value for t in at.sidebar.text]
    assert any(b.label == "Sign out" for b in at.sidebar.button)
    at.run()  # a rerun is the same sign-in
    assert rows(actions=["sign_in"]) == [("alice@example.com", "sign_in", "ok")]


def test_an_outsider_gets_the_not_allowed_page_and_the_attempt_is_audited() -> None:
    dataset_id = saved_sample()
    at = open_page("overview", EVE, ds=dataset_id)
    no_failure(at)
    assert "Refused: eve@evil-example.com is not on this dashboard's allow-list" in text_of(at)
    assert not at.dataframe and not at.get("plotly_chart") and dataset_id not in text_of(at)
    assert rows() == [("eve@evil-example.com", "refused", "not_allowed")]


def test_signing_out_is_audited_and_ends_the_password_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_PASSWORD", "correct horse")
    at = open_page("import", None, oidc=False)
    at.text_input[0].input("correct horse")
    at.button[0].click().run()
    assert "Signed in as the shared password (admin)" in [t.value for t in at.sidebar.text]
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    no_failure(at)
    assert [t.label for t in at.text_input] == ["Password"]
    assert rows() == [("password", "sign_in", "ok"), ("password", "sign_out", "ok")]


# ---- roles -------------------------------------------------------------------------------------


def test_a_viewer_does_not_see_admin_actions_and_the_audit_page_is_not_in_the_menu() -> None:
    dataset_id = saved_sample()
    for page in ("import", "batch", "session", "settings"):
        at = open_page(page, ALICE, ds=dataset_id, sid=sample.sample_sessions(60)[0].id)
        no_failure(at)
        labels = {b.label for b in at.button} | {t.label for t in at.toggle}
        assert not labels & {"Delete for good", "Keep", "Start batch", "Analyze again"}, page
        assert "Audit" not in text_of(at) or page == "settings"
        assert not any(link.label == "Audit" for link in at.sidebar.get("page_link")), page
    at = open_page("batch", ALICE, ds=dataset_id)
    assert "Only admins can start a batch" in text_of(at)


def test_only_an_admin_may_test_the_llm_connection_it_spends_a_call() -> None:
    at = open_page("settings", ALICE)
    no_failure(at)
    assert "Test connection" not in {b.label for b in at.button}
    at = open_page("settings", BOB)
    no_failure(at)
    assert "Test connection" in {b.label for b in at.button}
    refused = crafted(
        "settings", "from chatkit.web import settings_page; settings_page.check_connection(ctx)", ALICE
    )
    assert "done" not in refused.session_state and "Not allowed" in text_of(refused)


def test_a_deep_link_to_the_audit_page_is_refused_for_a_viewer_and_audited() -> None:
    store().audit("bob@example.com", "delete", dataset_id="secret-ds")
    at = open_page("audit", ALICE)
    no_failure(at)
    assert "Not allowed: only admins may view audit" in text_of(at)
    assert not at.dataframe and "secret-ds" not in text_of(at)
    assert rows(actions=["refused"]) == [("alice@example.com", "refused", "refused")]


CRAFTED = """
import streamlit as st
from chatkit.web.setup import page_setup
from chatkit.web import batch, import_data

ctx = page_setup("{page}")
st.session_state["reached"] = True
{call}
st.session_state["done"] = True
"""


def crafted(page: str, call: str, person: Identity, **params: Any) -> AppTest:
    """A request that reaches an admin-only handler without its (hidden) button: what a viewer
    who replays a widget message, or edits session state, would make the page do."""
    at = AppTest.from_string(CRAFTED.format(page=page, call=call), default_timeout=TIMEOUT)
    at.secrets["auth"] = AUTH
    at.session_state[identity.TEST_IDENTITY] = person
    at.query_params.update(params)
    return at.run()


def test_a_crafted_delete_or_batch_from_a_viewer_is_refused_audited_and_changes_nothing() -> None:
    dataset_id = saved_sample()
    ids = [s.id for s in sample.sample_sessions(5)]
    for page, call in [
        ("import", f"import_data.delete_dataset(ctx, {dataset_id!r})"),
        ("import", f"import_data.pin(ctx, {dataset_id!r}, True)"),
        ("batch", f"batch.start_job(ctx, {ids!r})"),
    ]:
        at = crafted(page, call, ALICE, ds=dataset_id)
        no_failure(at)
        assert at.session_state["reached"] and "done" not in at.session_state, call
        assert any("Not allowed: only admins may" in e.value for e in at.error), call
    info = store().dataset_info(dataset_id)
    assert info is not None and not info.pinned and store().list_jobs() == []
    assert [(a, act) for a, act, _ in rows(actions=["refused"])] == [("alice@example.com", "refused")] * 3
    details = [r["detail"] for r in reversed(store().audit_log(actions=["refused"]))]
    assert [d.split(":")[0] for d in details] == ["delete", "pin", "batch"]


def test_the_same_crafted_requests_from_an_admin_work_and_name_the_admin() -> None:
    dataset_id = saved_sample()
    at = crafted(
        "batch", "batch.start_job(ctx, ['" + sample.sample_sessions(60)[0].id + "'])", BOB, ds=dataset_id
    )
    no_failure(at)
    assert at.session_state["done"] and len(store().list_jobs()) == 1
    at = crafted("import", f"import_data.delete_dataset(ctx, {dataset_id!r})", BOB, ds=dataset_id)
    no_failure(at)
    assert store().dataset_info(dataset_id) is None
    # The embedded worker may already be running the queued job; its rows name bob too (the job's
    # requester), so only the two requests' own rows are compared.
    assert [r[:2] for r in rows(dataset_id=dataset_id) if r[1] in ("batch", "delete")] == [
        ("bob@example.com", "batch"),
        ("bob@example.com", "delete"),
    ]
    assert {r[0] for r in rows(dataset_id=dataset_id)} == {"bob@example.com"}


def test_an_admin_pins_and_deletes_in_the_ui_and_the_audit_page_answers_who_did_it() -> None:
    at = open_page("import", ALICE)
    at.file_uploader[0].set_value(("export.json", _export(20), "application/json")).run()
    next(b for b in at.button if "Save" in b.label).click().run()
    no_failure(at)
    (info,) = store().list_datasets()

    at = open_page("import", BOB)
    at.toggle(key=f"pin_{info.id}").set_value(True).run()
    assert store().dataset_info(info.id).pinned
    at.button(key=f"delete_{info.id}").click().run()
    no_failure(at)
    assert store().list_datasets() == []

    at = open_page("audit", BOB)
    no_failure(at)
    at.selectbox(key="ui_audit_actor")  # the person filter offers everyone in the log
    table = at.dataframe[0].value
    mine = table[table["dataset_id"] == info.id]
    assert list(zip(mine["actor"], mine["action"], strict=True))[::-1] == [
        ("alice@example.com", "import"),
        ("bob@example.com", "pin"),
        ("bob@example.com", "delete"),
    ]
    at.selectbox(key="ui_audit_actor").set_value("alice@example.com").run()
    assert set(at.dataframe[0].value["actor"]) == {"alice@example.com"}
    assert at.get("download_button")


def _export(n: int) -> bytes:
    import json

    return json.dumps(sample.sample_records(n)).encode()


# ---- table downloads: each its own button, formula-neutral, and an audited export ----------------
# Streamlit's own table toolbar download is switched off (test_streamlit_config checks the setting,
# test_browser a real page); these buttons are how a table leaves, and each click is an audit row.


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The bytes behind every download a run offers, by media file id (AppTest's runtime, and with
    it the files, is gone once a run ends)."""
    kept: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def keeping(
        self: MemoryMediaFileStorage, data: Any, mimetype: str, kind: Any, filename: Any = None
    ) -> str:
        file_id = original(self, data, mimetype, kind, filename)
        kept[file_id] = data if isinstance(data, bytes) else Path(data).read_bytes()
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keeping)
    return kept


def hostile_dataset() -> str:
    """Sessions whose ids, reasons, workflows and customers hold formulas (tests/support/hostile.py)."""
    sessions = [ChatKitSession.model_validate(r) for r in hostile_records()]
    return store().save_dataset("Hostile", sessions, ["hostile.json"])


def _overview(dataset_id: str) -> AppTest:
    return open_page("overview", ALICE, ds=dataset_id)


def _import_preview(_: str) -> AppTest:
    at = open_page("import", ALICE)
    export = json.dumps(hostile_records()).encode()
    return at.file_uploader[0].set_value(("hostile.json", export, "application/json")).run()


def _import_issues(_: str) -> AppTest:
    """An export whose hostile sessions carry a bad count (an error) and an odd TTL (a warning)."""
    records = hostile_records()
    records[30]["current_requests"] = "=1+1"  # its id is a spreadsheet formula
    records[2].update(id="=SUM(1+1) #2", ttl_seconds=100_000)
    at = open_page("import", ALICE)
    export = json.dumps(records).encode()
    return at.file_uploader[0].set_value(("hostile.json", export, "application/json")).run()


def _batch_results(dataset_id: str) -> AppTest:
    job_id = store().create_job(dataset_id, [], [], provider="standin", model="s", requested_by=BOB.who)
    assert store().claim_job("w").id == job_id
    run_job(store(), StandInAnalyzer(), job_id, "w")
    return open_page("batch", ALICE, ds=dataset_id, job=job_id)


def _audit_log(dataset_id: str) -> AppTest:
    store().audit('=HYPERLINK("http://127.0.0.1:9/x")', "import", detail="+cmd", dataset_id=dataset_id)
    return open_page("audit", BOB)


# (how to reach the table, its button's key, who clicks, the table named in the audit row, data set?)
TABLES: list[tuple[Callable[[str], AppTest], str, Identity, str, bool]] = [
    (_overview, "dl_ov_sessions", ALICE, "Overview session table", True),
    (_overview, "dl_ov_thresholds", ALICE, "What-if thresholds (All workflows)", True),
    (_import_preview, "dl_import_preview", ALICE, "Import preview of hostile.json", False),
    (_import_issues, "dl_import_errors", ALICE, "Import errors of hostile.json", False),
    (_import_issues, "dl_import_warnings", ALICE, "Import warnings of hostile.json", False),
    (_batch_results, "dl_batch_results", ALICE, "Batch results of job", True),
    (_audit_log, "dl_audit", BOB, "Audit log", False),
]


def csv_rows(data: bytes) -> list[list[str]]:
    """Every cell as text (pandas' reader: the csv module's field limit is process-wide state)."""
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    return [list(frame.columns), *frame.to_numpy().tolist()]


@pytest.mark.parametrize(
    ("reach", "key", "person", "table", "about_dataset"), TABLES, ids=[t[1] for t in TABLES]
)
def test_each_table_has_its_own_formula_neutral_download_and_a_click_is_an_audited_export(
    reach: Callable[[str], AppTest],
    key: str,
    person: Identity,
    table: str,
    about_dataset: bool,
    files: dict[str, bytes],
) -> None:
    dataset_id = hostile_dataset()
    at = reach(dataset_id)
    no_failure(at)
    button = at.download_button(key=key)
    header, *body = csv_rows(files[button.proto.url.rsplit("/", 1)[-1].split(".")[0]])
    assert body, "the download holds the table's rows"
    cells = header + [cell for row in body for cell in row]
    assert [c for c in cells if csv_cell(c) != c] == []  # nothing a spreadsheet would run
    if key != "dl_ov_thresholds":  # the thresholds are numbers; every other table quotes the data
        assert any(c.startswith("'=") for c in cells), "the hostile formulas are in it, neutralized"
    before = len(store().audit_log(actions=["export"]))

    button.click().run()

    no_failure(at)
    exports = store().audit_log(actions=["export"])
    assert len(exports) == before + 1
    row = exports[0]
    assert row["actor"] == person.who
    assert row["detail"].startswith(table) and row["detail"].endswith(f": {len(body):,} rows")
    assert row["dataset_id"] == (dataset_id if about_dataset else None)


# ---- fallbacks ---------------------------------------------------------------------------------


def test_without_any_access_control_a_remote_client_is_refused_and_a_local_one_sees_the_banner() -> None:
    at = open_page("overview", None, oidc=False)
    no_failure(at)
    assert any("No access control" in w.value for w in at.sidebar.warning)
    identity.use_test_identities(True, address="10.1.2.3")
    try:
        at = open_page("overview", None, oidc=False)
        no_failure(at)
        assert "only this machine (127.0.0.1) may connect" in text_of(at)
    finally:
        identity.use_test_identities(True)
    assert rows() == [("local", "refused", "not_allowed")]


def test_wrong_passwords_slow_down_every_session_of_that_address_and_are_audited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chatkit.web import gate

    now = [1000.0]
    monkeypatch.setattr(gate, "clock", lambda: now[0])
    monkeypatch.setenv("DASHBOARD_PASSWORD", "correct horse")
    first = open_page("overview", None, oidc=False)
    for _ in range(2):
        first.text_input[0].input("guess")
        first.button[0].click().run()
        now[0] += 1.01  # just past the first delay: the second failure doubles it
    assert "try again in 2 s" in text_of(first)
    second = open_page("overview", None, oidc=False)  # a new tab, same address: still waiting
    second.text_input[0].input("correct horse")
    second.button[0].click().run()
    assert "Too many wrong passwords" in text_of(second)
    assert [o for _, _, o in rows()] == ["wrong_password", "wrong_password", "throttled"]
    assert {a for a, _, _ in rows()} == {"password"}


def test_the_browser_key_is_the_token_under_the_xsrf_cookie_mask() -> None:
    token = b"0123456789abcdef0123"
    keys = set()
    for mask in (b"\x01\x02\x03\x04", b"\xff\xee\xdd\xcc"):
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(token))
        cookie = f"2|{binascii.b2a_hex(mask).decode()}|{binascii.b2a_hex(masked).decode()}|1700000000"
        keys.add(identity.browser_key({"_streamlit_xsrf": cookie}))
    assert keys == {hashlib.sha256(token).hexdigest()}  # the mask changes, the key does not
    assert identity.browser_key({}) is None


# ---- two people at once ------------------------------------------------------------------------


def test_two_people_uploading_analyzing_and_deleting_at_once_lose_nothing() -> None:
    """Two sessions in two threads on one store, while the worker thread runs the batch. AppTest
    keeps some state per process (the page config, the script's path), so each script run takes a
    turn under a lock; between turns the other person's run and the worker proceed."""
    keep = saved_sample(30)
    gone = store().save_dataset("to delete", sample.sample_sessions(10), ["x.json"])
    failures: list[BaseException] = []
    turn = threading.Lock()

    def alice() -> None:  # a viewer imports two data sets
        for n in (15, 25):
            with turn:
                at = open_page("import", ALICE)
            with turn:
                at.file_uploader[0].set_value((f"e{n}.json", _export(n), "application/json")).run()
            no_failure(at)
            at.text_input[0].set_value(f"alice {n}")
            with turn:
                next(b for b in at.button if "Save" in b.label).click().run()
            no_failure(at)

    def bob() -> None:  # an admin runs a batch on one data set and deletes another
        with turn:
            at = crafted("batch", "batch.start_job(ctx, [])", BOB, ds=keep)
        no_failure(at)
        with turn:
            at = crafted("import", f"import_data.delete_dataset(ctx, {gone!r})", BOB, ds=gone)
        no_failure(at)

    def run(target: Any) -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in (alice, bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    assert sorted(d.name for d in store().list_datasets()) == ["Sample", "alice 15", "alice 25"]
    (job,) = store().list_jobs()
    deadline = time.monotonic() + 60
    while not store().get_job(job.id).finished and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store().get_job(job.id).status == "done" and store().get_job(job.id).done == 30
    assert rows(actions=["import"]) == [("alice@example.com", "import", "ok")] * 2
    assert rows(dataset_id=gone) == [("bob@example.com", "delete", "ok")]
    assert [r[:2] for r in rows(dataset_id=keep)][:1] == [("bob@example.com", "batch")]
    assert rows(dataset_id=keep)[-1][1:] == ("batch_job", "done")  # the worker's row names the data set too
    assert {r[0] for r in rows(dataset_id=keep)} == {"bob@example.com"}  # the worker ran it for bob


def _llm(monkeypatch: pytest.MonkeyPatch, fake_llm: Any) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("LLM_API_KEY", "sk-test-dashboard-0001")
    monkeypatch.setenv("LLM_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("LLM_MODEL", "fake/model-1")


def test_with_an_llm_a_viewer_makes_no_call_and_an_admins_analysis_is_audited_in_their_name(
    monkeypatch: pytest.MonkeyPatch, fake_llm: Any
) -> None:
    _llm(monkeypatch, fake_llm)
    dataset_id = saved_sample(30)
    session = next(s for s in sample.sample_sessions(30) if s.status == "cancelled")
    at = open_page("session", ALICE, ds=dataset_id, sid=session.id)
    no_failure(at)
    assert "only admins can run one" in text_of(at) and not fake_llm.completions

    at = open_page("session", BOB, ds=dataset_id, sid=session.id)
    no_failure(at)
    assert fake_llm.completions  # the admin's open ran the analysis
    assert ("bob@example.com", "analyze", "ok") in rows(actions=["analyze"])
    next(b for b in at.button if b.label == "Analyze again").click().run()
    no_failure(at)
    assert ("bob@example.com", "reanalyze", "ok") in rows(actions=["reanalyze"])

    at = open_page("session", ALICE, ds=dataset_id, sid=session.id)  # now cached: the viewer reads it
    no_failure(at)
    assert "only admins can run one" not in text_of(at)
    assert any(m.label == "From cache" and m.value == "yes" for m in at.metric)


def test_a_bad_setting_stops_the_app_without_telling_a_visitor_which_or_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_ALLOWED_DOMAINS", ".hunter2")
    at = open_page("overview", None)
    no_failure(at)
    shown = text_of(at)
    assert "The configuration is not valid" in shown
    assert "hunter2" not in shown and "auth_allowed_domains" not in shown.lower()
