"""`IssueColumns` is the list of `ImportIssue` it replaces: the same items by index, slice and
iteration, today's order (`importer._sorted`), the dashboard's table; and a file import holds its
configuration warnings as columns, not objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatkit.analytics.tables import issues_table
from chatkit.domain.models import ImportIssue, ImportResult, IssueLevel
from chatkit.ingest import import_bytes, importer
from chatkit.ingest.importer import _sorted
from chatkit.ingest.issue_columns import IssueColumns

# Locations a sort by "the first run of digits" can get wrong: none, several runs, leading zeros,
# Unicode digits (Python's \d and int() read them), numbers past int64, digits glued to letters.
HOSTILE_LOCATIONS = [
    "row 12",
    "row 3",
    "whole file",
    "",
    "$.data[007]",
    "$.data[4].session",
    "line 2 of 10",
    "row \u0663",  # ARABIC-INDIC DIGIT THREE
    "row \uff17",  # FULLWIDTH DIGIT SEVEN
    "row 99999999999999999999999",
    "row 99999999999999999999998",
    "row 9223372036854775807",
    "row 9223372036854775806",
    "7a8",
    "row -5",
]


def _issues() -> list[ImportIssue]:
    out = []
    for i, location in enumerate(HOSTILE_LOCATIONS * 2):
        out.append(
            ImportIssue(
                level=IssueLevel.warning if i % 3 else IssueLevel.error,
                file=("b.csv", "a.jsonl", "c.json")[i % 3],
                location=location,
                session_id=None if i % 4 == 0 else f"cksess_{i}",
                field=None if i % 5 == 0 else ("ttl_seconds", "user")[i % 2],
                message=f'message {i} =HYPERLINK("x")',
            )
        )
    return out


def test_it_is_the_list_by_length_index_slice_and_iteration() -> None:
    issues = _issues()
    columns = IssueColumns.from_issues(issues)
    assert len(columns) == len(issues) and list(columns) == issues
    assert [columns[i] for i in range(-len(issues), len(issues))] == issues + issues
    for bad in (len(issues), -len(issues) - 1):
        with pytest.raises(IndexError):
            columns[bad]
    for part in (slice(2, 9), slice(None, None, -1), slice(-4, None), slice(1, 20, 3), slice(9, 2)):
        assert isinstance(columns[part], IssueColumns)
        assert list(columns[part]) == issues[part] and columns[part] == issues[part]
    assert columns == issues and issues == columns and columns != issues[1:]
    assert IssueColumns() == [] and not IssueColumns() and columns.index(issues[5]) == 5
    (only,) = IssueColumns.from_issues(issues[:1])
    assert only == issues[0] and only.level is IssueLevel.error


def test_chunks_of_other_dictionaries_join_and_iterate_in_order() -> None:
    issues = _issues()
    built = IssueColumns.build(
        file="d.csv",
        location=["row 2", "row 1"],
        session_id=["cksess_x", None],
        field=[None, "ttl_seconds"],
        message=["ttl 900 s is outside the API's documented 1-600 s", "other"],
        key=[2, 1],
    )
    joined = IssueColumns.concat([issues[:10], built, IssueColumns.from_issues(issues[10:]), []])
    assert joined == issues[:10] + list(built) + issues[10:]
    assert built[1] == ImportIssue(
        level=IssueLevel.warning, file="d.csv", location="row 1", field="ttl_seconds", message="other"
    )


@pytest.mark.parametrize("order", [{}, {"a.jsonl": 0, "b.csv": 1}, {"c.json": 0, "a.jsonl": 1, "b.csv": 2}])
def test_sorted_is_todays_order_on_hostile_locations(order) -> None:
    issues = _issues()
    expected = _sorted(issues, order)
    assert IssueColumns.from_issues(issues).sorted(order) == expected
    # Split in chunks with their own dictionaries, as `combine` joins files.
    assert IssueColumns.concat([issues[:7], issues[7:19], issues[19:]]).sorted(order) == expected


def test_sorted_keeps_ties_in_order_without_huge_numbers() -> None:
    issues = [i for i in _issues() if len(i.location) < 19]  # the column sort, not the exact fallback
    assert IssueColumns.from_issues(issues).sorted({"b.csv": 0}) == _sorted(issues, {"b.csv": 0})


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["x.csv", "y.jsonl", "z"]), st.text(max_size=12)),
        max_size=30,
    ),
    st.permutations(["x.csv", "y.jsonl"]),
)
def test_sorted_is_todays_order_on_any_text(cells, names) -> None:
    issues = [ImportIssue(file=f, location=loc, message=str(i)) for i, (f, loc) in enumerate(cells)]
    order = {name: index for index, name in enumerate(names)}
    assert IssueColumns.from_issues(issues).sorted(order) == _sorted(issues, order)


def test_filter_and_the_frame_are_the_lists() -> None:
    issues = _issues()
    columns = IssueColumns.from_issues(issues)
    keep = np.array([i.session_id != "cksess_5" for i in issues])
    assert columns.filter(keep) == [i for i in issues if i.session_id != "cksess_5"]
    pd.testing.assert_frame_equal(issues_table(columns), issues_table(list(issues)))
    pd.testing.assert_frame_equal(columns.frame(), issues_table(list(issues)))
    pd.testing.assert_frame_equal(IssueColumns().frame(), issues_table([]))


def test_an_import_result_takes_any_sequence_and_dumps_the_same() -> None:
    issues = _issues()
    as_list = ImportResult(warnings=issues, files=["a.jsonl"])
    as_columns = ImportResult(warnings=IssueColumns.from_issues(issues), files=["a.jsonl"])
    assert as_columns.model_dump(mode="json") == as_list.model_dump(mode="json")
    assert as_columns.model_dump() == as_list.model_dump()
    assert as_columns.model_dump_json() == as_list.model_dump_json()
    assert as_list.model_dump()["warnings"][0]["message"] == issues[0].message
    assert ImportResult().warnings == [] and ImportResult().model_dump()["warnings"] == []


def _warned_csv(n: int) -> bytes:
    """`n` sessions, each with one configuration warning (a TTL past the API's 600 s)."""
    rows = ["id,status,ttl_seconds,max_requests_per_1_minute,current_requests"]
    rows += [f"cksess_{i:012d},active,900,10,{i % 7}" for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


def test_thirty_thousand_configuration_warnings_are_held_as_columns() -> None:
    result = import_bytes("warned.csv", _warned_csv(30_000))
    warnings = result.warnings
    assert isinstance(warnings, IssueColumns) and len(warnings) == 30_000
    assert warnings.nbytes / len(warnings) < 300  # an ImportIssue object is ~1,300 bytes
    assert warnings[-1] == ImportIssue(
        level=IssueLevel.warning,
        file="warned.csv",
        location="row 30001",
        session_id="cksess_000000029999",
        field="ttl_seconds",
        message="ttl 900 s is outside the API's documented 1-600 s",
    )


def test_every_configuration_warning_is_worded_as_today() -> None:
    rows = [
        "id,ttl_seconds,max_requests_per_1_minute,rate_limits.max_requests_per_1_minute",
        "cksess_a,0,0,5",  # all three, in `config_warnings`' order
        "cksess_b,601,,0",  # the nested limit alone is the rate limit
        "cksess_c,5,3,3",  # none
        "cksess_d,,2,7",
        "cksess_a,700,,",  # a later record of a: its warnings point here, at its last row
    ]
    data = ("\n".join(rows) + "\n").encode()
    got = import_bytes("limits.csv", data)
    reference = importer.import_bytes("limits.csv", data)
    assert isinstance(got.warnings, IssueColumns) and got.warnings == reference.warnings
    assert [(w.session_id, w.location, w.field) for w in got.warnings] == [
        ("cksess_b", "row 3", "ttl_seconds"),
        ("cksess_b", "row 3", "max_requests_per_1_minute"),
        ("cksess_d", "row 5", "max_requests_per_1_minute"),
        ("cksess_a", "row 6", "ttl_seconds"),
        ("cksess_a", "row 6", "max_requests_per_1_minute"),
        ("cksess_a", "row 6", "max_requests_per_1_minute"),
    ]
    assert [w.message for w in got.warnings[-3:]] == [
        "ttl 700 s is outside the API's documented 1-600 s",
        "max_requests_per_1_minute 0 is below the API's minimum of 1",
        "max_requests_per_1_minute and rate_limits.max_requests_per_1_minute differ (0 vs 5); "
        "the top-level value is used",
    ]
