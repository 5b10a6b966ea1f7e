"""Every dashboard page through Streamlit's AppTest: empty state, sample data, upload, filters,
links that restore a view, bad links, charts, reports and batch jobs."""

from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from support import ROOT

from chatkit.analytics import charts, tables
from chatkit.domain import sample
from chatkit.domain.models import ChatKitSession, SessionReport
from chatkit.domain.rules import diagnose
from chatkit.settings import Settings, load_settings
from chatkit.store import Store, datasets
from chatkit.web.import_data import SEED_EXAMPLE
from chatkit.web.nav import PAGE_FILES
from chatkit.web.widgets import SAMPLE_SIZE

APP = str(ROOT / "app.py")
PAGES = list(PAGE_FILES.values())
SAMPLE_N = 120
TIMEOUT = 60


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data dir and offline settings per test; Streamlit's caches are process-wide: clear them."""
    monkeypatch.setenv("CHATKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LLM_PROVIDER", "offline")
    for name in ("LLM_API_KEY", "CHATKIT_DATABASE_URL", "LLM_BASE_URL", "LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()  # stops the background worker of this test's store


def store() -> Store:
    return Store.from_settings(load_settings())


def saved_sample(n: int = SAMPLE_N) -> str:
    return store().save_dataset("Sample", sample.sample_sessions(n), ["sample.json"])


def open_page(page: str, **params: Any) -> AppTest:
    """Open `page` through the router, as a click in the menu or a link with `params` would."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.switch_page(page)
    return at.run()


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(element.value) for element in at.get(kind)]


def all_text(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "code", "title", "subheader"):
        parts += texts(at, kind)
    return "\n".join(parts)


def no_failure(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def sessions_table(at: AppTest) -> pd.DataFrame:
    """The Overview's session table: the dataframe with a session_id column and the most rows."""
    frames = [df.value for df in at.dataframe if "session_id" in df.value.columns]
    return max(frames, key=len)


# ---- every page ------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_data(page: str) -> None:
    at = open_page(page)
    no_failure(at)
    assert not at.error
    if page in (PAGE_FILES["overview"], PAGE_FILES["session"], PAGE_FILES["batch"]):
        assert "no data set" in all_text(at).lower()
        assert any(b.label == "Load sample data" for b in at.button)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_sample_data(page: str) -> None:
    dataset_id = saved_sample()
    at = open_page(page)
    no_failure(at)
    assert not at.error
    assert at.query_params["ds"] == dataset_id  # the newest data set is chosen and put in the link
    assert at.sidebar.selectbox[0].value == dataset_id


def test_load_sample_button_opens_the_overview_with_every_chart() -> None:
    at = open_page(PAGE_FILES["overview"])
    next(b for b in at.button if b.label == "Load sample data").click().run()
    no_failure(at)
    assert at.query_params["ds"] == store().list_datasets()[0].id
    assert len(at.get("plotly_chart")) == 6
    assert len(at.metric) >= 6
    assert at.metric[0].value == f"{SAMPLE_SIZE:,}"


# ---- import ----------------------------------------------------------------------------------


def sample_csv(n: int = 40) -> bytes:
    """What `pandas.json_normalize(...).to_csv()` writes for an export: dotted columns."""
    return pd.json_normalize(sample.sample_records(n)).to_csv(index=False).encode()


def test_upload_csv_shows_the_report_and_saves_a_data_set() -> None:
    at = open_page(PAGE_FILES["import"])
    at.file_uploader[0].set_value(("export.csv", sample_csv(40), "text/csv")).run()
    no_failure(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Sessions read"] == "40"
    assert metrics["Errors"] == "0"
    assert at.text_input[0].value == "export.csv"
    at.text_input[0].set_value("March export")
    next(b for b in at.button if "Save" in b.label).click().run()
    no_failure(at)
    saved = store().list_datasets()
    assert [(d.name, d.session_count) for d in saved] == [("March export", 40)]
    assert at.query_params["ds"] == saved[0].id
    assert len(at.get("plotly_chart")) == 6  # now on the Overview


def test_upload_with_bad_rows_lists_each_error_and_keeps_good_rows() -> None:
    good = sample.sample_records(3)
    bad = {"id": "cksess_bad", "max_requests_per_1_minute": -5, "status": "cancelled"}
    files = [
        ("good.json", json.dumps(good).encode(), "application/json"),
        ("mixed.jsonl", (json.dumps(bad) + "\n" + "{not json\n").encode(), "application/json"),
    ]
    at = open_page(PAGE_FILES["import"])
    at.file_uploader[0].set_value(files).run()
    no_failure(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Sessions read"] == "3"
    assert int(metrics["Errors"]) >= 2
    errors = at.dataframe[0].value
    assert list(errors.columns) == ["file", "row", "session", "field", "message"]
    assert set(errors["file"]) == {"mixed.jsonl"}
    assert "max_requests_per_1_minute" in set(errors["field"])
    assert at.error  # says that good rows are kept and what to do


def test_pasted_seed_example_imports_with_a_configuration_warning() -> None:
    at = open_page(PAGE_FILES["import"])
    assert at.text_area[0].placeholder == SEED_EXAMPLE
    at.text_area[0].set_value(SEED_EXAMPLE).run()
    no_failure(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Sessions read"] == "1"
    assert int(metrics["Warnings"]) >= 1  # ttl 900 s is outside the API's 1-600 s


def test_stored_data_sets_are_listed_and_deleted_links_say_so() -> None:
    dataset_id = saved_sample(30)
    at = open_page(PAGE_FILES["import"])
    assert any(dataset_id in str(df.value.get("id", pd.Series()).tolist()) for df in at.dataframe)
    store().delete_dataset(dataset_id)
    at = open_page(PAGE_FILES["overview"], ds=dataset_id)
    no_failure(at)
    assert any("no longer exists" in e for e in texts(at, "error"))


def test_deleting_a_data_set_in_the_ui_removes_it_and_old_links_say_so() -> None:
    dataset_id = saved_sample(30)
    at = open_page(PAGE_FILES["import"])
    at.button(key=f"delete_{dataset_id}").click().run()
    no_failure(at)
    assert store().list_datasets() == []
    assert "None yet" in all_text(at)
    at = open_page(PAGE_FILES["session"], ds=dataset_id, sid=sample.sample_sessions(30)[0].id)
    no_failure(at)
    assert any("no longer exists" in e for e in texts(at, "error"))
    assert "no data set" in all_text(at).lower()


def test_deleting_a_data_set_keeps_every_other_data_set_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamlit's data cache is shared by every user: a delete must not empty theirs."""
    reads: dict[str, int] = {}
    original = datasets.facts_frame

    def counted(store: Store, dataset_id: str) -> Any:
        reads[dataset_id] = reads.get(dataset_id, 0) + 1
        return original(store, dataset_id)

    monkeypatch.setattr(datasets, "facts_frame", counted)
    deleted, kept = saved_sample(30), saved_sample(20)
    for dataset_id in (deleted, kept):
        no_failure(open_page(PAGE_FILES["overview"], ds=dataset_id))  # another user's view, cached
    assert reads == {deleted: 1, kept: 1}

    at = open_page(PAGE_FILES["import"])
    at.button(key=f"delete_{deleted}").click().run()
    no_failure(at)

    at = open_page(PAGE_FILES["overview"], ds=kept)
    no_failure(at)
    assert at.metric[0].value == "20"
    assert reads[kept] == 1  # still cached: not read from the store again
    at = open_page(PAGE_FILES["overview"], ds=deleted)
    assert any("no longer exists" in e for e in texts(at, "error"))


def test_a_link_to_a_deleted_data_set_says_to_pick_another_when_others_exist() -> None:
    dataset_id = saved_sample(30)
    saved_sample(20)
    store().delete_dataset(dataset_id)
    at = open_page(PAGE_FILES["overview"], ds=dataset_id)
    no_failure(at)
    assert any("no longer exists" in e for e in texts(at, "error"))
    shown = "\n".join(texts(at, "info"))
    assert "Pick one of the 1 stored data sets" in shown
    assert "no data set to show yet" not in shown  # it would contradict the sidebar's list


# ---- overview: filters, links, charts ---------------------------------------------------------


def test_filters_narrow_the_table_and_go_into_the_link() -> None:
    saved_sample()
    at = open_page(PAGE_FILES["overview"])
    everything = sessions_table(at)
    assert len(everything) == SAMPLE_N
    category = at.sidebar.multiselect(key="ui_f_cat")
    category.set_value(["rate_limited"]).run()
    no_failure(at)
    narrowed = sessions_table(at)
    assert 0 < len(narrowed) < len(everything)
    assert set(narrowed["category"]) == {"rate_limited"}
    assert at.query_params["cat"] == "rate_limited"
    assert at.metric[0].value == f"{len(narrowed):,}"
    share = str(at.sidebar.code[0].value)
    assert "cat=rate_limited" in share and "ds=" in share


def test_a_link_restores_data_set_filters_and_session() -> None:
    older = saved_sample(60)
    saved_sample(SAMPLE_N)  # newer: chosen when a link names none
    at = open_page(
        PAGE_FILES["overview"], ds=older, wf=["workflow_alpha", "workflow_beta"], status="cancelled"
    )
    no_failure(at)
    assert at.sidebar.selectbox[0].value == older
    assert at.sidebar.multiselect(key="ui_f_wf").value == ["workflow_alpha", "workflow_beta"]
    shown = sessions_table(at)
    assert set(shown["workflow_id"]) <= {"workflow_alpha", "workflow_beta"}
    assert set(shown["status"]) == {"cancelled"}

    session_id = shown["session_id"].iloc[0]
    at = open_page(PAGE_FILES["session"], ds=older, sid=session_id)
    no_failure(at)
    assert at.selectbox(key="ui_session").value == session_id
    facts = at.dataframe[0].value
    assert facts.set_index("fact").loc["id", "value"] == session_id


def test_bad_link_values_are_ignored_with_a_notice() -> None:
    dataset_id = saved_sample(30)
    at = open_page(
        PAGE_FILES["overview"],
        ds=dataset_id,
        cat=["rate_limited", "bogus"],
        wf="no_such_workflow",
        status="exploded",
        to="yesterday-ish",
        sid="<script>",
        foo="bar",
    )
    no_failure(at)
    notice = "\n".join(texts(at, "warning"))
    for word in ("bogus", "no_such_workflow", "exploded", "`to`", "sid", "foo"):
        assert word in notice
    assert at.sidebar.multiselect(key="ui_f_cat").value == ["rate_limited"]
    assert set(sessions_table(at)["category"]) == {"rate_limited"}
    assert "bogus" not in at.query_params.get("cat", "")  # the link is cleaned


def test_junk_data_set_id_is_a_notice_and_the_newest_data_set_is_shown() -> None:
    dataset_id = saved_sample(30)
    at = open_page(PAGE_FILES["overview"], ds="../../etc/passwd")
    no_failure(at)
    assert any("not a valid id" in w for w in texts(at, "warning"))
    assert at.query_params["ds"] == dataset_id


def test_charts_carry_the_filtered_data() -> None:
    saved_sample()
    at = open_page(PAGE_FILES["overview"], cat="rate_limited")
    no_failure(at)
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert len(specs) == 6
    shown = set(sessions_table(at)["session_id"])
    # Scatter charts carry session ids as customdata: exactly the filtered sessions, nothing else.
    ids = {
        str(item[0] if isinstance(item, list) else item)
        for spec in specs[:1]
        for trace in spec["data"]
        for item in trace.get("customdata") or []
    }
    assert ids and ids <= shown


def test_large_data_sets_draw_and_list_a_bounded_share_and_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # The caps as a 1,000,000-session data set meets them, scaled down to the sample's size.
    monkeypatch.setattr(tables, "MAX_POINTS", 50)
    monkeypatch.setattr(tables, "TABLE_LIMIT", 30)
    saved_sample()
    at = open_page(PAGE_FILES["overview"])
    no_failure(at)
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    for spec in (specs[0], specs[2]):  # requests vs limit, TTL vs time to end
        markers = [t for t in spec["data"] if t.get("mode") == "markers"]
        assert markers and sum(len(t["x"]) for t in markers) <= 50
    captions = texts(at, "caption")
    assert sum(f"Showing 50 of {SAMPLE_N:,} sessions" in c for c in captions) == 2
    assert len(sessions_table(at)) == 30
    assert any(c.startswith(f"Showing 30 of {SAMPLE_N:,} sessions") for c in captions)


def test_the_time_chart_buckets_per_day_and_a_widget_rerun_recomputes_only_what_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved_sample()
    calls: dict[str, int] = {}

    def counted(module: Any, name: str) -> None:
        original = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] = calls.get(name, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for name in ("requests_vs_limit", "cancellations_over_time"):
        counted(charts, name)
    counted(datasets, "facts_frame")
    at = open_page(PAGE_FILES["overview"])
    no_failure(at)

    def time_chart_x() -> list[str]:
        spec = json.loads(at.get("plotly_chart")[3].proto.spec)
        return sorted({str(x) for trace in spec["data"] for x in trace.get("x") or []})

    hourly = time_chart_x()
    at.segmented_control(key="ov_bucket").set_value("per day").run()
    no_failure(at)
    daily = time_chart_x()
    assert 1 <= len(daily) < len(hourly)
    assert all("T00:00:00" in x for x in daily)  # midnight buckets: one bar per day
    # The bucket changed one figure: the data set was not read again, the other figures not redrawn.
    assert calls == {"facts_frame": 1, "requests_vs_limit": 1, "cancellations_over_time": 2}


def test_what_if_sliders_update_the_counts() -> None:
    saved_sample()
    at = open_page(PAGE_FILES["overview"])
    label = "Rate-limit cancellations avoided"

    def avoided_and_total() -> tuple[int, int]:
        value = next(m.value for m in at.metric if m.label == label)
        avoided, total = (int(x.replace(",", "")) for x in value.split(" of "))
        return avoided, total

    limit = next(s for s in at.slider if s.label == "Per-minute limit")
    limit.set_value(1).run()
    no_failure(at)
    low, total = avoided_and_total()
    limit = next(s for s in at.slider if s.label == "Per-minute limit")
    limit.set_value(limit.max).run()
    no_failure(at)
    high, total_after = avoided_and_total()
    assert total == total_after > 0
    assert low < high <= total
    assert any("would have avoided" in c for c in texts(at, "caption"))


# ---- session -----------------------------------------------------------------------------------


def test_session_page_shows_diagnosis_and_offline_report() -> None:
    dataset_id = saved_sample()
    session = next(s for s in sample.sample_sessions(SAMPLE_N) if s.status == "cancelled")
    at = open_page(PAGE_FILES["session"], ds=dataset_id, sid=session.id)
    no_failure(at)
    body = all_text(at)
    assert "Root cause" in body and "Prevention" in body
    meta = {m.label: m.value for m in at.metric}
    assert (meta["Provider"], meta["Answer"], meta["Fact check"]) == ("offline", "offline", "not needed")
    assert any(session.id in b.proto.body for b in at.get("badge")) or "confidence" in body
    raw = at.get("json")[0].proto.body
    assert session.id in raw and "client_secret" not in raw
    share = str(at.sidebar.code[0].value)
    assert f"sid={session.id}" in share


def test_llm_report_comes_from_cache_until_analyze_again(
    monkeypatch: pytest.MonkeyPatch, fake_llm: Any
) -> None:
    use_fake_llm(monkeypatch, fake_llm)
    dataset_id = saved_sample(30)
    session = next(s for s in sample.sample_sessions(30) if s.status == "cancelled")
    at = open_page(PAGE_FILES["session"], ds=dataset_id, sid=session.id)
    no_failure(at)
    first = {m.label: m.value for m in at.metric}
    assert (first["Provider"], first["Model"], first["From cache"]) == ("openai", "fake/model-1", "no")
    assert (first["Answer"], first["Fact check"].endswith("finding(s)")) == ("json_schema", True)
    assert first["Tokens"] != "0"
    calls = len(fake_llm.completions)
    assert calls >= 1
    again = open_page(PAGE_FILES["session"], ds=dataset_id, sid=session.id)  # another browser
    assert {m.label: m.value for m in again.metric}["From cache"] == "yes"
    assert len(fake_llm.completions) == calls
    next(b for b in again.button if b.label == "Analyze again").click().run()
    no_failure(again)
    assert {m.label: m.value for m in again.metric}["From cache"] == "no"
    assert len(fake_llm.completions) > calls
    assert "sk-test-dashboard-0001" not in all_text(again)


def test_unknown_session_in_a_link_is_explained() -> None:
    dataset_id = saved_sample(30)
    at = open_page(PAGE_FILES["session"], ds=dataset_id, sid="cksess_not_here")
    no_failure(at)
    assert any("is not in the data set" in w for w in texts(at, "warning"))


def test_a_page_run_on_its_own_works_like_a_deep_link() -> None:
    """streamlit#9624: a deep link may run pages/x.py without app.py; setup must still happen."""
    dataset_id = saved_sample(30)
    session_id = sample.sample_sessions(30)[0].id
    page = str(Path(APP).parent / PAGE_FILES["session"])
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    at.query_params.update(ds=dataset_id, sid=session_id)
    at.run()
    no_failure(at)
    assert at.selectbox(key="ui_session").value == session_id
    assert any("Root cause" in m for m in texts(at, "markdown"))


# ---- batch ------------------------------------------------------------------------------------


def wait_for_job(job_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store().get_job(job_id, with_results=False)
        if job is not None and job.finished:
            return job.status
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_batch_runs_in_the_background_and_offers_downloads() -> None:
    saved_sample(40)
    at = open_page(PAGE_FILES["batch"], cat="rate_limited")
    no_failure(at)
    next(b for b in at.button if b.label == "Start batch").click().run()
    no_failure(at)
    job_id = at.query_params["job"]
    assert wait_for_job(job_id) == "done"
    at.run()
    no_failure(at)
    assert any(s.startswith("Done") for s in texts(at, "success"))
    assert {b.label for b in at.get("download_button")} >= {"Report (Markdown)", "Report (JSON)"}
    job = store().get_job(job_id)
    assert job is not None and job.total == job.done > 0
    results = sessions_table_of_job(at)
    assert set(results["category"]) == {"rate_limited"}
    assert any("ChatKit sessions summary" in m for m in texts(at, "markdown"))
    past = [element.proto.label for element in at.get("page_link")]
    assert any(f"{job.done}/{job.total} · done" in label for label in past), past
    # A past job reopens from its link in another browser session.
    again = open_page(PAGE_FILES["batch"], job=job_id)
    no_failure(again)
    assert any(s.startswith("Done") for s in texts(again, "success"))


def sessions_table_of_job(at: AppTest) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if "root cause" in df.value.columns)


def use_fake_llm(monkeypatch: pytest.MonkeyPatch, fake_llm: Any, **extra: str) -> None:
    """Settings pointing the app at the loopback fake LLM server (tests/fakellm.py)."""
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("LLM_API_KEY", "sk-test-dashboard-0001")
    monkeypatch.setenv("LLM_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("LLM_MODEL", "fake/model-1")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def test_stop_button_ends_a_running_job_and_keeps_what_is_done(
    monkeypatch: pytest.MonkeyPatch, fake_llm: Any
) -> None:
    from support.fakellm import good_json

    use_fake_llm(monkeypatch, fake_llm, LLM_CONCURRENCY="1", LLM_REQUESTS_PER_MINUTE="1000")
    fake_llm.push(*[good_json(delay_s=0.7) for _ in range(40)])
    saved_sample(60)
    at = open_page(PAGE_FILES["batch"], cat="rate_limited")
    next(b for b in at.button if b.label == "Start batch").click().run()
    job_id = at.query_params["job"]
    deadline = time.monotonic() + 30
    while (job := store().get_job(job_id, with_results=False)) is not None and job.done < 1:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    at.run()
    no_failure(at)
    next(b for b in at.button if b.label == "Stop").click().run()
    no_failure(at)
    assert wait_for_job(job_id) == "stopped"
    job = store().get_job(job_id)
    assert job is not None and 1 <= job.done < job.total
    at.run()
    no_failure(at)
    assert any(f"Stopped after {job.done:,} of {job.total:,}" in i for i in texts(at, "info"))
    assert len(sessions_table_of_job(at)) == job.done
    assert {b.label for b in at.get("download_button")} >= {"Per-session diagnosis (CSV)"}


def test_stopped_job_keeps_its_results() -> None:
    dataset_id = saved_sample(30)
    s = store()
    sessions = sample.sample_sessions(30)
    job_id = s.create_job(dataset_id, [x.id for x in sessions[:5]], sessions, provider="offline", model="m")
    s.request_stop(job_id)  # queued -> stopped at once, before any worker sees it
    at = open_page(PAGE_FILES["batch"], ds=dataset_id, job=job_id)
    no_failure(at)
    assert any("Stopped after 0 of 5" in i for i in texts(at, "info"))


def test_a_job_where_every_session_failed_offers_no_summary_but_lists_the_errors() -> None:
    dataset_id = saved_sample(30)
    s = store()
    sessions = sample.sample_sessions(30)[:2]
    job_id = s.create_job(dataset_id, [x.id for x in sessions], sessions, provider="openai", model="m")
    for session in sessions:
        failed = SessionReport(
            session_id=session.id,
            diagnosis=diagnose(session),
            provider="openai",
            model="m",
            error="cannot reach the endpoint",
        )
        s.record_job_result(job_id, session.id, failed.model_dump(mode="json"), failed.error)
    s.set_job_status(job_id, "failed", error="every session failed")
    at = open_page(PAGE_FILES["batch"], ds=dataset_id, job=job_id)
    no_failure(at)
    assert any("failed after 2 of 2" in e for e in texts(at, "error"))
    # Nothing was analyzed, so there is nothing to summarize (it would only ask the dead endpoint again).
    assert not [b for b in at.button if b.label.startswith("Summarize")]
    assert set(sessions_table_of_job(at)["error"]) == {"cannot reach the endpoint"}
    assert {b.label for b in at.get("download_button")} >= {"Per-session diagnosis (CSV)"}


def test_a_batch_of_hand_picked_sessions_analyzes_exactly_those() -> None:
    saved_sample(40)
    at = open_page(PAGE_FILES["batch"])
    at.radio[0].set_value("Sessions I pick").run()
    no_failure(at)
    start = next(b for b in at.button if b.label == "Start batch")
    assert start.disabled  # nothing picked yet
    picked = next(m for m in at.multiselect if m.label == "Sessions")
    chosen = picked.options[:3]
    picked.set_value(chosen).run()
    next(b for b in at.button if b.label == "Start batch").click().run()
    no_failure(at)
    job_id = at.query_params["job"]
    assert wait_for_job(job_id) == "done"
    job = store().get_job(job_id)
    assert job is not None
    assert sorted(r["session_id"] for r in job.results) == sorted(chosen)


def test_unknown_job_is_explained() -> None:
    saved_sample(30)
    at = open_page(PAGE_FILES["batch"], job="f" * 32)
    no_failure(at)
    assert any("does not exist" in e for e in texts(at, "error"))


# ---- settings ----------------------------------------------------------------------------------


def test_settings_show_status_but_never_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-never-show-me-123456"
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("LLM_API_KEY", secret)
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens: a refused connection
    at = open_page(PAGE_FILES["settings"])
    no_failure(at)
    view = at.dataframe[0].value.set_index("setting")["value"]
    assert view["API key"] == "configured"
    assert view["provider in use"] == "openai"
    next(b for b in at.button if b.label == "Test connection").click().run(timeout=120)
    no_failure(at)
    assert at.error  # a clear message, not a traceback
    everything = all_text(at) + json.dumps([df.value.to_dict() for df in at.dataframe], default=str)
    assert secret not in everything


def test_streamlit_secrets_override_the_environment() -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["llm_model"] = "from-secrets/model"
    at.secrets["LLM_BASE_URL"] = "http://127.0.0.1:9/v1"
    at.switch_page(PAGE_FILES["settings"]).run()
    no_failure(at)
    view = at.dataframe[0].value.set_index("setting")["value"]
    assert view["base URL"] == "http://127.0.0.1:9/v1"
    assert view["provider in use"] == "offline"
    next(b for b in at.button if b.label == "Test connection").click().run()
    assert at.success


# ---- sparse data: sessions that carry almost nothing -------------------------------------------

SPARSE = [
    {"id": "cksess_only_id"},
    {"id": "cksess_only_status", "status": "cancelled"},
    {
        "id": "cksess_api_shape",
        "object": "chatkit.session",
        "status": "expired",
        "user": "user_1",
        "expires_at": 1712345678,
        "workflow": {"id": "wf_api", "version": None, "tracing": {"enabled": True}},
        "rate_limits": {"max_requests_per_1_minute": 10},
        "max_requests_per_1_minute": 10,
    },
    {"id": "cksess_limit_zero", "status": "cancelled", "max_requests_per_1_minute": 0, "current_requests": 3},
]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_copes_with_sessions_that_lack_most_fields(page: str) -> None:
    sessions = [ChatKitSession.model_validate(record) for record in SPARSE]
    dataset_id = store().save_dataset("Sparse", sessions, ["sparse.json"])
    at = open_page(page, ds=dataset_id, sid="cksess_only_id")
    no_failure(at)
    assert not at.error


def test_the_session_page_opens_each_sparse_session() -> None:
    sessions = [ChatKitSession.model_validate(record) for record in SPARSE]
    dataset_id = store().save_dataset("Sparse", sessions, ["sparse.json"])
    for record in SPARSE:
        at = open_page(PAGE_FILES["session"], ds=dataset_id, sid=record["id"])
        no_failure(at)
        assert record["id"] in all_text(at)


# ---- look and feel ------------------------------------------------------------------------------


def test_streamlit_config_is_calm_safe_and_matches_the_importer() -> None:
    config = tomllib.loads((Path(APP).parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert config["browser"]["gatherUsageStats"] is False
    # The uploader refuses what the importer would refuse anyway, and nothing the importer accepts.
    assert config["server"]["maxUploadSize"] == Settings.model_fields["chatkit_max_upload_mb"].default
    assert config["theme"]["base"] == "light"
    # The gate (issue 8): loopback unless told otherwise; visitors never see a traceback.
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["showErrorDetails"] == "none"


# ---- access gate -------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_with_a_password_every_page_shows_only_the_sign_in_form(
    page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHBOARD_PASSWORD", "correct horse")
    dataset_id = saved_sample()
    at = open_page(page, ds=dataset_id)
    no_failure(at)
    assert [t.label for t in at.text_input] == ["Password"]
    assert not at.get("plotly_chart") and not at.dataframe and not at.sidebar.selectbox
    assert dataset_id not in all_text(at)


def test_the_right_password_opens_the_linked_view_and_a_wrong_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chatkit.web import gate

    now = [1000.0]
    monkeypatch.setattr(gate, "clock", lambda: now[0])  # the throttle's delays, without sleeping
    monkeypatch.setenv("DASHBOARD_PASSWORD", "correct horse")
    dataset_id = saved_sample()
    session_id = sample.sample_sessions(SAMPLE_N)[0].id
    at = open_page(PAGE_FILES["session"], ds=dataset_id, sid=session_id)
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    no_failure(at)
    assert "password is not right" in all_text(at)
    assert session_id not in all_text(at)

    at.text_input[0].input("correct horse")  # even the right one waits out the delay (1 s)
    at.button[0].click().run()
    assert "Too many wrong passwords. Wait 1 s" in all_text(at)
    now[0] += 1.5
    at.text_input[0].input("correct horse")
    at.button[0].click().run()
    no_failure(at)
    assert not at.text_input or at.text_input[0].label != "Password"
    assert at.query_params["sid"] == session_id and session_id in all_text(at)
    assert "correct horse" not in repr(at.session_state)  # the password is kept in no widget state


def test_a_failed_llm_analysis_keeps_its_warning_on_every_rerun(
    monkeypatch: pytest.MonkeyPatch, fake_llm: Any
) -> None:
    from support.fakellm import server_error

    use_fake_llm(monkeypatch, fake_llm, LLM_MAX_RETRIES="0")
    fake_llm.push(*[server_error() for _ in range(10)])
    dataset_id = saved_sample(30)
    session = next(s for s in sample.sample_sessions(30) if s.status == "cancelled")
    at = open_page(PAGE_FILES["session"], ds=dataset_id, sid=session.id)
    no_failure(at)
    assert any("could not analyze this session" in w for w in texts(at, "warning"))
    calls = len(fake_llm.completions)
    at.run()  # a widget rerun: the report comes from the page's memo, the warning stays
    no_failure(at)
    assert any("could not analyze this session" in w for w in texts(at, "warning"))
    assert len(fake_llm.completions) == calls
