"""The hostile-text corpus in every field a page shows, through every page with AppTest.

A data set of hostile sessions (tests/support/hostile.py: reason, user, workflow id and version,
customer id, state_variables, an unknown extra field, the data set's name, and the ids themselves)
is opened on Overview, Session (every session), Batch report, Import and Settings, and a share link
quoting hostile values. Every Markdown-rendering element (Markdown, captions, notices, labels, help,
page links, progress text) is checked the way a browser meets it: no live tag, no link or image
attribute, no bare URL a GFM renderer would link. Every table shown is formula-neutral, since
Streamlit's toolbar downloads exactly what it shows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest
from support import ROOT
from support.hostile import hostile_dataset_name, hostile_records, live_markup

from chatkit.domain.models import ChatKitSession
from chatkit.domain.text import csv_cell
from chatkit.settings import load_settings
from chatkit.store import Store, datasets
from chatkit.web.nav import PAGE_FILES

APP = str(ROOT / "app.py")
TIMEOUT = 120
# Elements whose strings no Markdown renderer reads: Plotly specs (checked in tests/analytics),
# tables (checked below as cells), st.code and st.json (shown as text).
NOT_MARKDOWN = {"plotly_chart", "arrow_data_frame", "dataframe", "code", "json", "text"}
# The proto fields Streamlit renders as Markdown.
MARKDOWN_FIELDS = {"body", "label", "help", "caption", "text", "placeholder"}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CHATKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LLM_PROVIDER", "offline")
    for name in ("LLM_API_KEY", "CHATKIT_DATABASE_URL", "LLM_BASE_URL", "LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()


def _store() -> Store:
    return Store.from_settings(load_settings())


def _sessions() -> list[ChatKitSession]:
    return [ChatKitSession.model_validate(r) for r in hostile_records()]


def _saved() -> str:
    return datasets.save_dataset(_store(), hostile_dataset_name(), _sessions(), ["hostile.json"])


def _open(page: str, **params: Any) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.switch_page(PAGE_FILES[page])
    return at.run()


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def _strings(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, str):
        if key in MARKDOWN_FIELDS:
            yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)


def markdown_of(at: AppTest) -> list[tuple[str, str]]:
    """(element type, string) for every string on the page that Streamlit renders as Markdown."""
    found = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        kind = getattr(node, "type", "")
        if proto is None or kind in NOT_MARKDOWN or not hasattr(proto, "DESCRIPTOR"):
            continue
        found += [(kind, s) for s in _strings(MessageToDict(proto, preserving_proto_field_name=True))]
    return found


def assert_inert(at: AppTest) -> int:
    """No live link, image or autolink in any Markdown element; every table formula-neutral.
    Returns how many strings were checked (so a test can tell it looked at something)."""
    assert not at.exception, [e.value for e in at.exception]
    strings = markdown_of(at)
    live = [(kind, text[:120], found) for kind, text in strings if (found := live_markup(text))]
    assert not live, live
    for table in at.dataframe:
        frame = table.value
        cells = [v for column in frame.columns for v in frame[column].tolist() if isinstance(v, str)]
        unsafe = [v for v in cells + [str(c) for c in frame.columns] if csv_cell(v) != v]
        assert not unsafe, unsafe[:5]
    return len(strings)


def _hostile_shown(at: AppTest) -> bool:
    """The page really shows hostile text (as data), so the check above had something to check."""
    return any("leak" in text for _, text in markdown_of(at)) or any(
        "leak" in str(v) for table in at.dataframe for v in table.value.astype(str).to_numpy().ravel()
    )


def test_overview_and_a_hostile_share_link_stay_inert() -> None:
    dataset_id = _saved()
    image = "![x](http://127.0.0.1:9/leak/notice.png)"
    at = _open("overview", ds=dataset_id, wf=[image, "<img src=http://127.0.0.1:9/leak/wf.png>"])
    assert assert_inert(at) > 10 and _hostile_shown(at)
    assert len(at.get("plotly_chart")) == 6
    at = _open("overview", ds=dataset_id, **{"from": image + "9" * 3000, image: "1"})
    assert assert_inert(at) and at.warning, "the link notices are shown"
    assert all(len(w.value) < 600 for w in at.warning), "a notice echoes a bounded value"


def test_every_hostile_session_opens_inert_on_the_session_page() -> None:
    dataset_id = _saved()
    sessions = _sessions()
    at = _open("session", ds=dataset_id, sid=sessions[1].id)
    for session in sessions[1::2]:  # the ones a link can name; the others are in the picker
        at.query_params["sid"] = session.id
        at.run()
        assert assert_inert(at) and _hostile_shown(at), session.id
        assert any("Report" in s.value for s in at.subheader)
    # A session id the link names that is not there is quoted, bounded and inert.
    at.query_params["sid"] = "x" * 190
    at.run()
    assert_inert(at)


def test_batch_report_of_hostile_sessions_stays_inert() -> None:
    dataset_id = _saved()
    sessions = _sessions()
    store = _store()
    job_id = store.create_job(dataset_id, [s.id for s in sessions], sessions, provider="offline", model="m")
    at = _open("batch", ds=dataset_id, job=job_id)
    deadline = time.monotonic() + TIMEOUT
    while not (job := store.get_job(job_id, with_results=False)) or not job.finished:
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.3)
    at.run()
    assert assert_inert(at) and _hostile_shown(at)
    assert {b.label for b in at.get("download_button")} >= {
        "Report (Markdown)",
        "Per-session diagnosis (CSV)",
    }
    summarize = [b for b in at.button if b.label.startswith("Summarize")]
    if summarize:
        summarize[0].click().run()
        assert_inert(at)


def test_import_of_hostile_sessions_and_the_stored_list_stay_inert() -> None:
    _saved()
    at = _open("import")
    payload = json.dumps(hostile_records()).encode()
    at.file_uploader[0].set_value(
        ("hostile ![x](http://127.0.0.1:9/leak/f.png).json", payload, "application/json")
    )
    at.run()
    assert assert_inert(at) and _hostile_shown(at)
    assert any(m.label == "Sessions read" and m.value == str(len(hostile_records())) for m in at.metric)


def test_settings_with_an_audit_log_of_hostile_sessions_stay_inert() -> None:
    dataset_id = _saved()
    at = _open("session", ds=dataset_id, sid=_sessions()[1].id)  # one analysis, so the audit log has a row
    assert_inert(at)
    at = _open("settings")
    assert assert_inert(at) > 5
