"""chatkit.ingest: every input shape, every hostile file, the lifecycle merge, and speed."""

from __future__ import annotations

import codecs
import io
import json
import random
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from support import FIXTURES

from chatkit.domain.models import ChatKitSession, ImportResult, IssueLevel
from chatkit.ingest import (
    import_bytes,
    import_files,
    import_paths,
    import_records,
    import_text,
)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def ids(result: ImportResult) -> list[str]:
    return [s.id for s in result.sessions]


def only_error(result: ImportResult) -> str:
    assert len(result.errors) == 1, [str(e) for e in result.errors]
    return result.errors[0].message


# ------------------------------------------------------------------ shapes


def test_seed_example_imports_with_a_ttl_warning() -> None:
    result = import_paths([FIXTURES / "seed_session.json"])
    assert ids(result) == ["cksess_123"] and result.errors == []
    (warning,) = result.warnings
    assert warning.level == IssueLevel.warning
    assert (warning.session_id, warning.field, warning.location) == ("cksess_123", "ttl_seconds", "$")
    assert "900" in warning.message
    session = result.sessions[0]
    assert (session.ttl, session.rate_limit, session.current_requests) == (900, 30, 35)
    assert [c.status for c in session.status_history] == ["cancelled"]


def test_wrapped_session_and_sessions_envelope() -> None:
    assert ids(import_bytes("w.json", fixture("session_wrapped.json"))) == ["cksess_wrap"]
    result = import_bytes("e.json", fixture("sessions_envelope.json"))
    assert ids(result) == ["cksess_e1", "cksess_e2"] and result.ok and result.rows_read == 2


def test_api_list_keeps_good_rows_and_names_bad_ones_by_json_path() -> None:
    result = import_bytes("list.json", fixture("api_list.json"))
    assert ids(result) == ["cksess_l1", "cksess_l2"]
    assert result.rows_read == 5
    got = [(e.location, e.session_id, e.field) for e in result.errors]
    assert got == [
        ("$.data[2]", "cksess_l3", "current_requests"),
        ("$.data[3]", None, None),
        ("$.data[4]", "cksess_l5", "status"),
    ]
    assert "must be a whole number ≥ 0, got -3" in result.errors[0].message
    assert "expected a session object" in result.errors[1].message
    assert "SECRET" not in result.model_dump_json()
    l2 = result.sessions[1]
    assert l2.chatkit_configuration["file_upload"]["max_file_size"] == 512
    assert l2.workflow.state_variables == {"plan": "pro"}


def test_jsonl_lines_are_named_and_neighbours_kept() -> None:
    result = import_bytes("s.jsonl", fixture("sessions.jsonl"))
    assert ids(result) == ["cksess_j1", "cksess_j2"]
    assert [e.location for e in result.errors] == ["line 4", "line 5", "line 6"]
    assert "cut off" in result.errors[0].message
    assert result.errors[1].field == "id" and "has no 'id'" in result.errors[1].message
    assert "list" in result.errors[2].message
    assert result.sessions[1].cancelled_at.year == 2024  # epoch milliseconds


def test_csv_snake_columns() -> None:
    result = import_bytes("snake.csv", fixture("snake.csv"))
    assert result.ok and ids(result) == ["cksess_s1", "cksess_s2"]
    s1, s2 = result.sessions
    assert (s1.workflow_id, s1.workflow.version, s1.customer_id) == ("workflow_alpha", "1", "cust_456")
    assert (s1.rate_limit, s1.current_requests, s1.ttl_seconds) == (30, 35, 600)
    assert s1.reason == "Rate limit exceeded"
    assert s2.cancelled_at is None and s2.reason is None and s2.workflow.version is None  # empty = absent


def test_csv_dotted_columns_as_json_normalize_writes_them() -> None:
    result = import_bytes("n.csv", fixture("dotted_normalize.csv"))
    assert result.errors == [] and ids(result) == ["cksess_d1", "cksess_d2"]
    d1, d2 = result.sessions
    assert d2.rate_limits.max_requests_per_1_minute == 10  # "10.0"
    assert d2.workflow.version == "3" and d2.workflow.tracing.enabled is False
    assert d2.chatkit_configuration == {
        "automatic_thread_titling": {"enabled": True},
        "file_upload": {"enabled": True, "max_file_size": 512, "max_files": 10},
        "history": {"enabled": True, "recent_threads": 20},
    }
    assert d2.workflow.state_variables == {"plan": "pro"}
    assert d1.workflow.state_variables is None and d1.workflow.version is None
    assert "unnamed" not in json.dumps(d1.model_dump(mode="json")).lower()  # pandas' index column
    # the client_secret column is dropped, said once, and its values appear nowhere
    assert any("client_secret" in w.message and "dropped" in w.message for w in result.warnings)
    assert "CSVSECRET" not in result.model_dump_json()


def test_format_is_detected_from_content_not_extension() -> None:
    csv_text = fixture("snake.csv")
    assert ids(import_bytes("really.json", csv_text)) == ["cksess_s1", "cksess_s2"]
    assert ids(import_bytes("really.csv", fixture("seed_session.json"))) == ["cksess_123"]
    assert ids(import_bytes("really.json", fixture("lifecycle_responses.jsonl"))) == [
        "cksess_life",
        "cksess_other",
    ]
    assert ids(import_text('[{"id": "cksess_p"}]')) == ["cksess_p"]


def test_jsonl_is_recognised_even_when_its_first_line_is_broken() -> None:
    result = import_bytes("log.txt", b'{"id": "a", \n{"id": "b"}\n{"id": "c"}\n')
    assert ids(result) == ["b", "c"] and result.errors[0].location == "line 1"


def test_files_without_sessions_get_one_warning() -> None:
    for name, data in (
        ("e.json", b"[]"),
        ("h.csv", b"id,status\n"),
        ("l.json", b'{"object": "list", "data": []}'),
    ):
        result = import_bytes(name, data)
        assert result.sessions == [] and result.errors == []
        assert len(result.warnings) == 1, [str(w) for w in result.warnings]


def test_several_files_make_one_data_set() -> None:
    result = import_files(
        [("a.json", fixture("seed_session.json")), ("b.csv", fixture("snake.csv")), ("c.jsonl", b"")]
    )
    assert ids(result) == ["cksess_123", "cksess_s1", "cksess_s2"]
    assert result.files == ["a.json", "b.csv", "c.jsonl"]
    assert result.rows_read == 3
    assert [(e.file, e.message) for e in result.errors] == [("c.jsonl", "the file is empty")]


def test_import_records_accepts_dicts_and_sessions_with_the_same_rules() -> None:
    seed = json.loads(fixture("seed_session.json"))
    result = import_records([seed, ChatKitSession.model_validate({"id": "cksess_m"}), 7], "api")
    assert ids(result) == ["cksess_123", "cksess_m"]
    assert [(e.file, e.location) for e in result.errors] == [("api", "$[2]")]
    assert result.warnings[0].field == "ttl_seconds"


# ------------------------------------------------------------------ lifecycle merge


def test_create_then_cancel_response_is_one_session_with_history() -> None:
    result = import_bytes("log.jsonl", fixture("lifecycle_responses.jsonl"))
    assert ids(result) == ["cksess_life", "cksess_other"]
    assert result.errors == [] and result.warnings == []  # a lifecycle is not a conflict
    life = result.sessions[0]
    assert life.status == "cancelled"
    assert [(c.status, c.source) for c in life.status_history] == [
        ("active", "log.jsonl:line 1"),
        ("cancelled", "log.jsonl:line 3"),
    ]
    assert life.user == "user_9" and life.rate_limit == 10


def test_terminal_status_wins_whatever_the_order_and_fields_fill_in() -> None:
    cancel = {"id": "cksess_o", "status": "cancelled", "cancelled_at": 1712345678, "reason": "user left"}
    create = {"id": "cksess_o", "status": "active", "created_at": 1712345000, "current_requests": 4}
    result = import_records([cancel, create], "log")
    (session,) = result.sessions
    assert session.status == "cancelled"
    assert session.reason == "user left" and session.current_requests == 4
    assert session.created_at is not None and session.cancelled_at is not None
    assert [c.status for c in session.status_history] == ["active", "cancelled"]
    assert result.warnings == []


def test_later_non_null_values_override_and_null_never_erases() -> None:
    first = {"id": "x", "status": "active", "current_requests": 3, "workflow": {"id": "wf", "version": "1"}}
    second = {"id": "x", "status": "active", "current_requests": 9, "workflow": {"id": "wf", "version": None}}
    (session,) = import_records([first, second]).sessions
    assert session.current_requests == 9 and session.workflow.version == "1"
    assert len(session.status_history) == 1  # the same state seen twice is one observation


def test_the_same_file_twice_is_not_double_counted() -> None:
    data = fixture("sessions_envelope.json")
    result = import_files([("e.json", data), ("e.json", data)])
    assert ids(result) == ["cksess_e1", "cksess_e2"]
    assert all(len(s.status_history) == 1 for s in result.sessions)
    assert result.warnings == []


def test_contradicting_records_are_conflicts_with_both_sources_and_the_kept_value() -> None:
    result = import_bytes("c.jsonl", fixture("conflict.jsonl"))
    (session,) = result.sessions
    assert session.status == "cancelled" and session.workflow_id == "wf_b"  # the later record wins
    by_field = {w.field: w for w in result.warnings}
    assert set(by_field) == {"status", "workflow.id"}
    message = by_field["status"].message
    assert "'expired' in c.jsonl:line 1" in message and "'cancelled' in c.jsonl:line 2" in message
    assert "kept 'cancelled'" in message
    assert by_field["workflow.id"].session_id == "cksess_c1"


def test_conflicts_across_files_on_customer_and_cancel_time() -> None:
    a = b'{"id": "k", "status": "cancelled", "cancelled_at": 1712345678, "scope": {"customer_id": "c1"}}'
    b = b'{"id": "k", "status": "cancelled", "cancelled_at": 1712349999, "scope": {"customer_id": "c2"}}'
    result = import_files([("a.json", a), ("b.json", b)])
    assert {w.field for w in result.warnings} == {"scope.customer_id", "cancelled_at"}
    assert all("a.json:$" in w.message and "b.json:$" in w.message for w in result.warnings)
    assert result.sessions[0].customer_id == "c2"


# ------------------------------------------------------------------ hostile input


def test_truncated_json_says_where_and_keeps_complete_items() -> None:
    result = import_bytes("t.json", fixture("truncated.json"))
    assert ids(result) == ["cksess_t1", "cksess_t2"]
    message = only_error(result)
    assert "cut off" in message and "line 4" in message and "column" in message
    assert result.errors[0].location.startswith("line 4")


def test_invalid_json_in_the_middle_names_line_and_column() -> None:
    result = import_text('{"id": "x",\n  "status": "active" "oops": 1}', "paste")
    message = only_error(result)
    assert "not valid JSON at line 2, column" in message


def test_json_with_comments_and_trailing_commas_is_accepted_with_a_warning() -> None:
    result = import_bytes("c.json", fixture("commented.json"))
    assert ids(result) == ["cksess_k1", "cksess_k2"] and result.ok
    assert any("not strict JSON" in w.message for w in result.warnings)


@pytest.mark.parametrize("data", [b"", b"   \n\r\n\t ", codecs.BOM_UTF8])
def test_empty_files(data: bytes) -> None:
    assert only_error(import_bytes("e.json", data)) == "the file is empty"


def test_binary_garbage_is_named_as_such() -> None:
    garbage = random.Random(5).randbytes(4096)
    result = import_bytes("g.csv", garbage)
    assert "binary" in only_error(result)
    assert "NUL" in only_error(import_bytes("n.json", b'{"id": "x\x00"}'))


def test_known_non_text_files_are_named() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.csv", "id\nx\n")
    assert "ZIP archive" in only_error(import_bytes("book.xlsx", buffer.getvalue()))


def test_utf8_bom_csv_first_header_still_reads_id() -> None:
    result = import_bytes("bom.csv", codecs.BOM_UTF8 + fixture("snake.csv"))
    assert result.ok and ids(result) == ["cksess_s1", "cksess_s2"]
    assert ids(import_bytes("bom.json", codecs.BOM_UTF8 + fixture("seed_session.json"))) == ["cksess_123"]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_and_without_bom(codec: str) -> None:
    text = fixture("snake.csv").decode()
    assert ids(import_bytes("w.csv", text.encode(codec))) == ["cksess_s1", "cksess_s2"]
    seed = fixture("seed_session.json").decode()
    assert ids(import_bytes("w.json", seed.encode(codec))) == ["cksess_123"]


def test_windows_1252_is_read_with_a_warning() -> None:
    result = import_bytes("w.csv", "id,reason\ncksess_w,Kündigung\n".encode("cp1252"))
    assert result.sessions[0].reason == "Kündigung"
    assert any("Windows-1252" in w.message for w in result.warnings)


def test_crlf_line_endings() -> None:
    jsonl = fixture("lifecycle_responses.jsonl").replace(b"\n", b"\r\n")
    assert ids(import_bytes("l.jsonl", jsonl)) == ["cksess_life", "cksess_other"]
    csv_crlf = fixture("snake.csv").replace(b"\n", b"\r\n")
    result = import_bytes("s.csv", csv_crlf)
    assert result.ok and result.sessions[0].reason == "Rate limit exceeded"  # no stray \r


def test_ragged_csv_rows_are_reported_and_the_others_kept() -> None:
    result = import_bytes("r.csv", fixture("ragged.csv"))  # CRLF file
    assert ids(result) == ["cksess_r1", "cksess_r4"]
    assert [e.location for e in result.errors] == ["row 3", "row 4"]
    assert "4 cells but the header has 3" in result.errors[0].message
    assert "fewer cells" in result.errors[1].message


def test_csv_without_a_header_row_is_detected() -> None:
    result = import_bytes("h.csv", fixture("no_header.csv"))
    assert result.sessions == []
    assert "no header row" in only_error(result)
    assert "no 'id' column" in only_error(import_bytes("x.csv", b"name,count\nfoo,3\n"))


def test_csv_semicolons_and_tabs() -> None:
    assert ids(import_bytes("s.csv", b"id;status;current_requests\ncksess_a;active;3\n")) == ["cksess_a"]
    assert ids(import_bytes("t.tsv", b"id\tstatus\ncksess_b\tactive\n")) == ["cksess_b"]


def test_a_2mb_line_imports_and_messages_stay_short() -> None:
    reason = "x" * 2_000_000
    line = json.dumps({"id": "cksess_big", "status": "active", "reason": reason})
    assert import_bytes("big.jsonl", line.encode()).sessions[0].reason == reason
    csv_big = f"id,reason\ncksess_big,{reason}\ncksess_small,ok\n".encode()
    assert ids(import_bytes("big.csv", csv_big)) == ["cksess_big", "cksess_small"]
    bad = json.dumps({"id": "cksess_bad", "status": "s" * 2_000_000})
    result = import_bytes("bad.jsonl", bad.encode())
    assert len(only_error(result)) < 200
    long_date = import_text(json.dumps({"id": "d", "created_at": "day " * 500_000}))
    assert "is not a date" in only_error(long_date) and len(only_error(long_date)) < 200
    garbage = import_bytes("g.jsonl", b'{"id": "a"}\n{"id": ' + b"9" * 2_000_000 + b"\n")
    assert ids(garbage) == ["a"] and len(only_error(garbage)) < 200


def test_json_nested_10000_deep_is_an_error_not_a_recursion_error() -> None:
    deep = "[" * 10_000 + "]" * 10_000
    assert "nested too deeply" in only_error(import_bytes("deep.json", deep.encode()))
    deep_object = '{"id": "x", "a": ' + '{"a": ' * 10_000 + "1" + "}" * 10_001
    assert "nested too deeply" in only_error(import_bytes("deep.json", deep_object.encode()))
    jsonl = f'{{"id": "ok"}}\n{deep_object}\n'
    result = import_bytes("deep.jsonl", jsonl.encode())
    assert ids(result) == ["ok"] and result.errors[0].location == "line 2"
    # built in Python (a REST or library caller): still a clear row error
    nested: dict = {}
    node = nested
    for _ in range(10_000):
        node["a"] = {}
        node = node["a"]
    result = import_records([{"id": "x", "extra": nested}, {"id": "y"}])
    assert ids(result) == ["y"] and "nested more than" in only_error(result)


def test_an_item_nested_10000_deep_costs_none_of_its_neighbours() -> None:
    # brackets and escaped quotes inside strings must not confuse where the deep item ends
    deep = '{"id": "cksess_deep", "x": ' + '["]{\\"", ' * 10_000 + "0" + "]" * 10_000 + "}"
    good = '{"id": "cksess_a"}, ' + deep + ', {"id": "cksess_b"}'
    for text, where in ((f"[{good}]", "$[1]"), (f'{{"sessions": [{good}]}}', "$.sessions[1]")):
        result = import_bytes("deep.json", text.encode())
        assert ids(result) == ["cksess_a", "cksess_b"] and result.rows_read == 3
        assert "nested too deeply" in only_error(result) and result.errors[0].location == where
    elsewhere = '{"meta": ' + "[" * 10_000 + "]" * 10_000 + ', "sessions": [{"id": "cksess_a"}]}'
    result = import_bytes("deep.json", elsewhere.encode())
    assert ids(result) == ["cksess_a"] and "nested too deeply" in only_error(result)


def test_nan_and_infinity_tokens_are_errors_naming_the_field() -> None:
    result = import_bytes("n.json", fixture("nan_tokens.json"))
    assert ids(result) == ["cksess_n3"]
    assert [(e.session_id, e.field) for e in result.errors] == [
        ("cksess_n1", "current_requests"),
        ("cksess_n2", "workflow.state_variables.score"),
    ]
    assert "NaN" in result.errors[0].message and "Infinity" in result.errors[1].message
    csv_result = import_bytes("n.csv", fixture("nan_cell.csv"))
    assert ids(csv_result) == ["cksess_x2"]
    assert (csv_result.errors[0].location, csv_result.errors[0].field) == ("row 2", "current_requests")
    text_nan = import_bytes("t.csv", b"id,reason\ncksess_q,NaN\n")
    assert text_nan.errors[0].field == "reason"


def test_files_holding_other_objects_say_what_they_are() -> None:
    assert only_error(import_bytes("err.json", fixture("api_error.json"))) == (
        "this is an API error response, not sessions: Incorrect API key provided: sk-***"
    )
    assert only_error(import_bytes("t.json", fixture("threads.json"))) == (
        "this file holds ChatKit threads, not sessions"
    )
    other = import_text('{"object": "chat.completion", "choices": []}')
    assert "chat.completion" in only_error(other)
    unknown = import_text('{"rows": [1, 2]}')
    assert "no sessions found" in only_error(unknown) and "rows" in only_error(unknown)
    scalar = import_text("42")
    assert scalar.sessions == [] and scalar.errors
    mixed = import_text('[{"id": "cksess_a"}, {"id": "cthr_1", "object": "chatkit.thread"}]')
    assert ids(mixed) == ["cksess_a"] and "chatkit.thread" in only_error(mixed)
    line = import_text('{"id": "a"}\n{"error": {"message": "Rate limit reached"}}\n')
    assert ids(line) == ["a"] and "Rate limit reached" in only_error(line)


def test_size_cap_rejects_without_reading(tmp_path: Path) -> None:
    assert "over the" in only_error(import_bytes("big.json", b"[" + b" " * 100 + b"]", max_bytes=50))
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:  # sparse: 300 MB on paper, nothing on disk
        handle.truncate(300 * 1024 * 1024)
    started = time.perf_counter()
    result = import_paths([huge])
    assert time.perf_counter() - started < 2
    message = only_error(result)
    assert "300.0 MB" in message and "200.0 MB limit" in message and "not read" in message


def test_missing_and_unreadable_paths(tmp_path: Path) -> None:
    result = import_paths([tmp_path / "nope.json", tmp_path, FIXTURES / "seed_session.json"])
    assert ids(result) == ["cksess_123"]
    assert [e.message for e in result.errors] == ["file not found", "is not a file (a folder?)"]


def test_non_object_items_and_missing_ids_are_row_errors() -> None:
    result = import_text('[1, "x", null, [], {"status": "active"}, {"id": ""}, {"id": "ok"}]')
    assert ids(result) == ["ok"]
    assert [e.location for e in result.errors] == ["$[0]", "$[1]", "$[2]", "$[3]", "$[4]", "$[5]"]
    assert result.errors[4].field == "id" and "has no 'id'" in result.errors[4].message
    assert "must not be empty" in result.errors[5].message


def test_huge_integers_do_not_crash() -> None:
    result = import_text('{"id": "x", "current_requests": ' + "1" * 5000 + "}")
    assert result.sessions == [] and result.errors


def test_secret_values_never_appear_in_messages() -> None:
    rows = [
        {"id": "a", "client_secret": "ek_live_LEAK1", "current_requests": -1},
        {"id": "b", "api_key": "sk-LEAK2", "status": "bogus", "workflow": {"password": "LEAK3"}},
    ]
    result = import_records(rows)
    assert len(result.errors) == 2
    assert "LEAK" not in result.model_dump_json()
    bad_csv = b"id,client_secret,current_requests\nc,ek_live_LEAK4,-1\n"
    assert "LEAK" not in import_bytes("s.csv", bad_csv).model_dump_json()


def test_issue_text_names_file_location_id_and_field() -> None:
    result = import_bytes("list.json", fixture("api_list.json"))
    assert str(result.errors[0]) == (
        "list.json, $.data[2] [cksess_l3]: field 'current_requests': must be a whole number ≥ 0, got -3"
    )


# ------------------------------------------------------------------ the OpenAI SDK's own objects


def sdk_sessions() -> list[dict]:
    from openai.types.beta.chatkit import (
        ChatSession,
        ChatSessionAutomaticThreadTitling,
        ChatSessionChatKitConfiguration,
        ChatSessionFileUpload,
        ChatSessionHistory,
        ChatSessionRateLimits,
    )
    from openai.types.beta.chatkit_workflow import ChatKitWorkflow, Tracing

    def make(i: int, status: str, version: str | None, variables: dict | None) -> dict:
        session = ChatSession(
            id=f"cksess_sdk{i}",
            object="chatkit.session",
            status=status,
            client_secret=f"ek_live_SDKSECRET{i}",
            expires_at=1712345678 + i,
            max_requests_per_1_minute=10 + i,
            rate_limits=ChatSessionRateLimits(max_requests_per_1_minute=10 + i),
            user=f"user_{i}",
            workflow=ChatKitWorkflow(
                id="wf_sdk", version=version, state_variables=variables, tracing=Tracing(enabled=i % 2 == 0)
            ),
            chatkit_configuration=ChatSessionChatKitConfiguration(
                automatic_thread_titling=ChatSessionAutomaticThreadTitling(enabled=True),
                file_upload=ChatSessionFileUpload(
                    enabled=i > 0, max_file_size=512 if i else None, max_files=10
                ),
                history=ChatSessionHistory(enabled=True, recent_threads=None if i else 20),
            ),
        )
        return session.model_dump(mode="json")

    return [
        make(0, "active", None, None),
        make(1, "cancelled", "2", {"plan": "pro", "seats": 3, "beta": True}),
        make(2, "expired", "7", {"plan": "free"}),
    ]


def without_nulls(value: object) -> object:
    """CSV cannot tell null from absent, so compare the formats without nulls."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value


def comparable(result: ImportResult) -> list[object]:
    return [without_nulls(s.model_dump(mode="json", exclude={"status_history"})) for s in result.sessions]


def test_sdk_chat_sessions_import_as_json_jsonl_and_normalized_csv() -> None:
    records = sdk_sessions()
    as_json = import_bytes("sdk.json", json.dumps(records).encode())
    as_jsonl = import_bytes("sdk.jsonl", "\n".join(json.dumps(r) for r in records).encode())
    as_csv = import_bytes("sdk.csv", pd.json_normalize(records).to_csv().encode())
    as_list = import_bytes("sdk.json", json.dumps({"object": "list", "data": records}).encode())
    for result in (as_json, as_jsonl, as_csv, as_list):
        assert result.errors == [], [str(e) for e in result.errors]
        assert ids(result) == ["cksess_sdk0", "cksess_sdk1", "cksess_sdk2"]
        assert "SDKSECRET" not in result.model_dump_json()
    assert comparable(as_csv) == comparable(as_json) == comparable(as_jsonl) == comparable(as_list)
    cancelled = as_csv.sessions[1]
    assert (cancelled.status, cancelled.rate_limit, cancelled.customer_id) == ("cancelled", 11, "user_1")
    assert cancelled.workflow.state_variables == {"plan": "pro", "seats": 3, "beta": True}
    assert cancelled.chatkit_configuration["file_upload"] == {
        "enabled": True,
        "max_file_size": 512,
        "max_files": 10,
    }


def test_sdk_create_and_cancel_responses_merge() -> None:
    create = sdk_sessions()[1] | {"status": "active"}
    cancel = sdk_sessions()[1] | {"client_secret": ""}
    result = import_records([create, cancel], "responses")
    (session,) = result.sessions
    assert session.status == "cancelled" and result.warnings == []
    assert [c.status for c in session.status_history] == ["active", "cancelled"]


# ------------------------------------------------------------------ speed


def test_large_imports_are_fast() -> None:
    base = sdk_sessions()[1] | {"created_at": "2024-04-05T10:00:00+02:00", "current_requests": 5}
    records = [base | {"id": f"cksess_{i}"} for i in range(20_000)]
    data = json.dumps(records).encode()
    started = time.process_time()
    result = import_bytes("many.json", data)
    elapsed = time.process_time() - started
    assert len(result.sessions) == 20_000 and result.ok
    # ~0.1 ms a record on a slow shared CI core, so 100k take seconds; the bound leaves room for noise.
    assert elapsed < 20, f"{elapsed:.1f} s for 20k records"
