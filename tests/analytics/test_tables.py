"""The dashboard's tables, rows and labels, built from plain data: what each page shows, without Streamlit."""

from __future__ import annotations

import pandas as pd

from chatkit.analytics import charts, tables
from chatkit.analytics.frame import ENDED_CATEGORIES, SEVERITIES, sessions_frame
from chatkit.analytics.tables import (
    JOB_RESULT_COLUMNS,
    MAX_POINTS,
    POINT_CHARTS,
    TABLE_COLUMNS,
    TABLE_LIMIT,
    chart_pick,
    default_dataset_name,
    demoted,
    drawn_rows,
    facts_table,
    issues_table,
    job_results_table,
    narrowed,
    picker_labels,
    session_rows,
    sessions_preview,
    threshold_table,
    what_if_bounds,
)
from chatkit.domain import sample
from chatkit.domain.models import ChatKitSession, ImportIssue
from chatkit.domain.rules import diagnose, diagnose_all
from chatkit.domain.sample import SEED_SESSION
from chatkit.domain.text import csv_cell
from chatkit.ingest import import_records


def sample_frame(n: int = 400) -> pd.DataFrame:
    sessions = sample.sample_sessions(n)
    return sessions_frame(sessions, diagnose_all(sessions))


# ---- import ------------------------------------------------------------------------------------


def test_issues_table_has_one_row_per_issue_and_blanks_for_missing_parts() -> None:
    issues = [
        ImportIssue(file="a.csv", location="row 3", session_id="s1", field="ttl_seconds", message="bad"),
        ImportIssue(file="b.json", location="$", message="not JSON"),
    ]
    table = issues_table(issues)
    assert table.to_dict("records") == [
        {"file": "a.csv", "row": "row 3", "session": "s1", "field": "ttl_seconds", "message": "bad"},
        {"file": "b.json", "row": "$", "session": "", "field": "", "message": "not JSON"},
    ]
    assert issues_table([]).columns.tolist() == ["file", "row", "session", "field", "message"]


def test_sessions_preview_shows_the_seed_as_imported_and_stops_at_the_limit() -> None:
    seed = ChatKitSession.model_validate(SEED_SESSION)
    assert sessions_preview([seed]).to_dict("records") == [
        {
            "id": "cksess_123",
            "status": "cancelled",
            "workflow": "workflow_alpha",
            "customer": "cust_456",
            "limit/min": 30,
            "requests": 35,
            "ttl s": 900,
            "reason": "Rate limit exceeded",
        }
    ]
    assert len(sessions_preview(sample.sample_sessions(30), limit=7)) == 7


def test_default_dataset_name_names_the_files() -> None:
    assert default_dataset_name([]) == "Imported sessions"
    assert default_dataset_name(["", ""]) == "Imported sessions"
    assert default_dataset_name(["a.json"]) == "a.json"
    assert default_dataset_name(["a.json", "", "b.csv", "c.jsonl"]) == "a.json and 2 more"


# ---- one session -------------------------------------------------------------------------------


def test_facts_table_of_the_seed() -> None:
    seed = ChatKitSession.model_validate(SEED_SESSION)
    facts = dict(facts_table(seed, diagnose(seed)).itertuples(index=False))
    assert facts == {
        "id": "cksess_123",
        "status": "cancelled",
        "status history": "—",
        "workflow": "workflow_alpha",
        "workflow version": "1",
        "customer": "cust_456",
        "limit per minute": "30",
        "requests": "35",
        "utilization": "117%",
        "TTL (s)": "900",
        "created (UTC)": "—",
        "ended (UTC)": "2024-04-05 19:34:38",
        "time to end (s)": "—",
        "reason": "Rate limit exceeded",
        "configuration warnings": facts["configuration warnings"],
    }
    assert "900" in facts["configuration warnings"]  # outside the API's 1-600 s


def test_facts_table_shows_a_merged_lifecycle_and_the_time_to_end() -> None:
    created = {"id": "s1", "status": "active", "created_at": "2025-03-14T10:00:00Z", "ttl_seconds": 600}
    cancelled = {
        **created,
        "status": "cancelled",
        "cancelled_at": "2025-03-14T10:04:10Z",
        "reason": "user left",
    }
    (session,) = import_records([created, cancelled]).sessions
    facts = dict(facts_table(session, diagnose(session)).itertuples(index=False))
    assert facts["status history"].startswith("active") and "cancelled" in facts["status history"]
    assert facts["time to end (s)"] == "250"
    assert facts["created (UTC)"] == "2025-03-14 10:00:00"
    assert facts["configuration warnings"] == "—"


def test_picker_labels_name_the_diagnosis_and_workflow() -> None:
    df = pd.DataFrame(
        {"session_id": ["s1", "s2"], "category": ["rate_limited", "active"], "workflow_id": ["wf_a", ""]}
    )
    assert picker_labels(df) == ["s1 · rate_limited · wf_a", "s2 · active · no workflow"]


def test_demoted_moves_report_headings_below_the_page() -> None:
    markdown = "# Report\n## Cause\nnot # a heading\n#### Deep\n#tag"
    assert demoted(markdown) == "### Report\n#### Cause\nnot # a heading\n###### Deep\n#tag"
    assert demoted(markdown, levels=1).splitlines()[0] == "## Report"


# ---- overview ----------------------------------------------------------------------------------


def test_point_charts_draw_every_ended_session_first_when_capped() -> None:
    df = sample_frame()
    ended = int(df["category"].isin(ENDED_CATEGORIES).sum())
    drawn = drawn_rows(df, limit=ended + 10)
    assert len(drawn) == ended + 10
    assert int(drawn["category"].isin(ENDED_CATEGORIES).sum()) == ended
    assert drawn["session_id"].tolist() == drawn_rows(df, limit=ended + 10)["session_id"].tolist()
    assert len(drawn_rows(df, limit=ended // 2)) == ended // 2
    assert drawn_rows(df, limit=1000) is df


def test_a_chart_selection_narrows_the_table() -> None:
    pick = chart_pick(
        "Requests vs limit",
        "requests_vs_limit",
        {},
        {"points": [{"customdata": ["s1"]}, {"customdata": ["s3"]}]},
    )
    frame = pd.DataFrame({"session_id": ["s1", "s2", "s3"], "workflow_id": ["a", "b", "a"]})
    assert pick is not None and pick.apply(frame)["session_id"].tolist() == ["s1", "s3"]
    bars = chart_pick("Top", "top_cancellations", {"by": "workflow_id"}, {"points": [{"x": 4, "y": "b"}]})
    assert bars is not None and bars.apply(frame)["session_id"].tolist() == ["s2"]
    assert chart_pick("Top", "top_cancellations", {}, {"points": []}) is None
    assert chart_pick("Top", "top_cancellations", {}, None) is None


def test_time_buckets_picked_on_the_time_chart_keep_the_sessions_of_those_hours() -> None:
    df = sample_frame(200)
    hours = df["ended_at"].dropna().dt.tz_localize(None).dt.floor("h")
    hour = hours.iloc[0]
    pick = chart_pick("Over time", "cancellations_over_time", {}, {"points": [{"x": str(hour)}]})
    assert pick is not None
    kept = narrowed(df, [pick], "h")
    assert 0 < len(kept) < len(df)
    assert set(kept["session_id"]) >= set(df.loc[hours[hours == hour].index, "session_id"])
    assert narrowed(df, [], "h") is df


def test_session_rows_are_worst_first_capped_and_rounded() -> None:
    df = sample_frame()
    rows = session_rows(df, limit=50)
    assert len(rows) == 50 and rows.columns.tolist() == TABLE_COLUMNS
    severities = rows["severity"].cat.codes.tolist()
    assert severities == sorted(severities, reverse=True)
    assert (rows["utilization"].dropna() == rows["utilization"].dropna().round(2)).all()
    assert len(session_rows(df)) == len(df)


def large_frame(rows: int = 25_000) -> pd.DataFrame:
    """The sample frame repeated to `rows` rows, each with an id of its own."""
    small = sample_frame()
    df = pd.concat([small] * (rows // len(small) + 1), ignore_index=True).head(rows)
    return df.assign(session_id=pd.array([f"s{i}" for i in range(rows)], dtype="string"))


def test_a_large_frame_draws_at_most_the_cap_and_lists_the_worst_newest_first() -> None:
    df = large_frame()
    for name in POINT_CHARTS:
        figure = getattr(charts, name)(drawn_rows(df))
        markers = [t for t in figure.data if t.mode == "markers"]
        drawn = sum(len(t.x) for t in markers)
        assert 0 < drawn <= MAX_POINTS < len(df)
    rows = session_rows(df)
    assert len(rows) == TABLE_LIMIT < len(df)
    # The same rows, in the same order, as a stable sort of the whole frame would give.
    expected = df.sort_values(["severity", "created_at"], ascending=[False, False], kind="stable")
    assert rows["session_id"].tolist() == expected["session_id"].head(TABLE_LIMIT).tolist()


def test_session_rows_put_missing_times_after_known_ones_of_the_same_severity() -> None:
    df = sample_frame(60)
    df = df.assign(severity=pd.Categorical(["warning"] * 60, categories=SEVERITIES, ordered=True))
    df.loc[df.index[:5], "created_at"] = pd.NaT
    missing = int(df["created_at"].isna().sum())
    rows = session_rows(df)
    known = len(df) - missing
    assert rows["created_at"].tail(missing).isna().all() and rows["created_at"].head(known).notna().all()
    assert rows["created_at"].head(known).is_monotonic_decreasing


def test_what_if_bounds_start_at_todays_median_and_reach_past_what_was_seen() -> None:
    df = pd.DataFrame(
        {
            "workflow_id": ["a", "a", "b"],
            "rate_limit": [30, 30, 10],
            "requests": [35, 90, 12],
            "ttl_s": [600, 600, 60],
            "time_to_end_s": [100.0, 1000.0, None],
        }
    )
    assert what_if_bounds(df) == {"limit_now": 30, "limit_max": 108, "ttl_now": 600, "ttl_max": 1200}
    assert what_if_bounds(df, "b") == {"limit_now": 10, "limit_max": 20, "ttl_now": 60, "ttl_max": 600}
    empty = what_if_bounds(df, "none")
    assert empty == {"limit_now": 10, "limit_max": 20, "ttl_now": 600, "ttl_max": 1200}


def test_threshold_table_formats_values_and_dashes() -> None:
    table = threshold_table({"limit": {"p50": 36, "p90": None}, "ttl_s": {"p50": 1200, "p90": 3600}})
    assert table.to_dict("records") == [
        {"smallest … that avoids": "per-minute limit", "50 %": "36", "90 %": "—"},
        {"smallest … that avoids": "TTL", "50 %": "1,200 s", "90 %": "3,600 s"},
    ]


# ---- batch jobs --------------------------------------------------------------------------------


def test_job_results_table_reads_reports_errors_and_raw_text() -> None:
    results = [
        {
            "session_id": "s1",
            "report": {
                "diagnosis": {"category": "rate_limited", "severity": "warning"},
                "body": {"severity": "critical", "root_cause": {"summary": "over the limit"}},
                "usage": {"total_tokens": 120},
                "from_cache": True,
            },
        },
        {
            "session_id": "s2",
            "report": {
                "diagnosis": {"category": "undetermined", "severity": "info"},
                "raw_text": "free text",
            },
        },
        {"session_id": "s3", "report": None, "error": "LLM timed out"},
    ]
    assert job_results_table(results).to_dict("records") == [
        {
            "session": "s1",
            "category": "rate_limited",
            "severity": "critical",
            "root cause": "over the limit",
            "tokens": 120,
            "from cache": True,
            "error": "",
        },
        {
            "session": "s2",
            "category": "undetermined",
            "severity": "info",
            "root cause": "free text",
            "tokens": 0,
            "from cache": False,
            "error": "",
        },
        {
            "session": "s3",
            "category": "",
            "severity": "",
            "root cause": "",
            "tokens": 0,
            "from cache": False,
            "error": "LLM timed out",
        },
    ]
    assert job_results_table([]).columns.tolist() == JOB_RESULT_COLUMNS


def test_percent_labels_stay_short_enough_for_a_kpi_tile() -> None:
    # "100.0 %" was cut to "100.…" in a tile six to a row at 1400 px.
    assert [tables.percent_label(v) for v in (0, 2.345, 9.94, 9.96, 50, 100)] == [
        "0.0 %",
        "2.3 %",
        "9.9 %",
        "10 %",
        "50 %",
        "100 %",
    ]


def test_table_csv_neutralizes_every_text_cell_and_header_and_keeps_numbers_and_times() -> None:
    import csv
    import io
    from datetime import UTC, datetime

    df = pd.DataFrame(
        {
            "at": [datetime(2026, 12, 1, 9, 30, tzinfo=UTC), None],
            "actor": ['=HYPERLINK("http://x")', "alice@example.com"],
            "detail": ["\u00a0+1", None],
            "tokens": [3, -4],
            "ids": [["=cmd"], []],
            "@sum": ["ok", "ok"],
        }
    )
    rows = list(csv.reader(io.StringIO(tables.table_csv(df).decode())))
    assert rows[0] == ["at", "actor", "detail", "tokens", "ids", "'@sum"]
    assert rows[1] == [
        "2026-12-01T09:30:00+00:00",
        '\'=HYPERLINK("http://x")',
        "'\u00a0+1",
        "3",
        "['=cmd']",
        "ok",
    ]
    assert rows[2] == ["", "alice@example.com", "", "-4", "[]", "ok"]  # a negative number is a number


def test_table_csv_of_a_shown_table_reads_back_as_what_the_page_showed() -> None:
    import io

    table = session_rows(sessions_frame(sample.sample_sessions(40)))
    back = pd.read_csv(io.BytesIO(tables.table_csv(table)))
    assert list(back.columns) == list(table.columns) and len(back) == len(table)
    assert list(back["session_id"]) == list(table["session_id"])
    shown, read = table["requests"], back["requests"]
    assert read.isna().tolist() == shown.isna().tolist()
    assert read.dropna().astype(int).tolist() == shown.dropna().astype(int).tolist()


def _row_by_row_csv(df: pd.DataFrame) -> bytes:
    """The rule `table_csv` keeps, cell by cell with `csv.writer` (its first form, the reference)."""
    import csv
    import io
    import numbers
    from datetime import datetime

    def value(v: object) -> object:
        if pd.api.types.is_scalar(v) and pd.isna(v):
            return ""
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, numbers.Number):
            return v
        return csv_cell(str(v))

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(str(c)) for c in df.columns])
    for record in df.itertuples(index=False):
        writer.writerow([value(v) for v in record])
    return out.getvalue().encode()


def test_table_csv_by_column_writes_the_bytes_the_row_by_row_rule_writes() -> None:
    from datetime import UTC, datetime, timedelta

    from support.hostile import hostile_records

    shown = session_rows(sessions_frame(sample.sample_sessions(300)), limit=300)
    hostile = sessions_frame([ChatKitSession.model_validate(r) for r in hostile_records()])
    odd = pd.DataFrame(
        {
            "when": [
                datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC),
                None,
                datetime(2026, 1, 1, tzinfo=UTC),
            ],
            "naive": pd.to_datetime(["2026-12-01 09:30:00", None, "2026-12-01 09:30:00.5"], format="ISO8601"),
            "took": [timedelta(seconds=61), None, timedelta(0)],
            "flag": [True, False, True],
            "maybe": pd.array([True, None, False], dtype="boolean"),
            "count": pd.array([1, None, -3], dtype="Int64"),
            "share": [0.1 + 0.2, float("nan"), 1e20],
            "mixed": ["=1+1", 5, None],
            "level": pd.Categorical(["warning", None, "-critical"]),
            "lists": [["=cmd"], [], None],
            "": ["", "\ufeff@x", 'a,b\n"c"'],
        }
    )
    for df in (shown, hostile, odd, shown.iloc[:0]):
        assert tables.table_csv(df) == _row_by_row_csv(df)
