"""A table's own download: small tables carry their CSV, big ones (and row functions) make it on click."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from chatkit.analytics import tables
from chatkit.web import exports


class _Ctx:
    def audit(self, *args: Any, **kwargs: Any) -> None:  # only a click calls it
        raise AssertionError("not clicked in this test")


@pytest.fixture
def buttons(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(
        exports.st,
        "download_button",
        lambda label, data, *a, **kw: seen.append({"label": label, "data": data, **kw}),
    )
    return seen


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"session_id": [f"=cmd{i}" for i in range(n)], "requests": range(n)})


def test_a_small_table_carries_its_csv_and_a_big_one_makes_it_on_click(buttons, monkeypatch) -> None:
    monkeypatch.setattr(exports, "DEFER_ROWS", 50)
    small, big = _rows(50), _rows(51)
    for df in (small, big):
        exports.table_download(_Ctx(), df, table="T", file_name="t.csv", key=f"k{len(df)}")  # type: ignore[arg-type]
    eager, deferred = buttons
    assert eager["data"] == tables.table_csv(small)
    assert callable(deferred["data"]) and deferred["data"]() == tables.table_csv(big)
    assert [b["kwargs"]["detail"] for b in buttons] == ["T: 50 rows", "T: 51 rows"]


def test_rows_from_a_function_are_made_on_click_and_counted_as_told(buttons) -> None:
    made: list[int] = []

    def every_row() -> pd.DataFrame:
        made.append(1)
        return _rows(3)

    exports.table_download(_Ctx(), every_row, table="All", file_name="a.csv", key="a", row_count=3)  # type: ignore[arg-type]
    (button,) = buttons
    assert made == [] and button["kwargs"]["detail"] == "All: 3 rows"  # nothing built before the click
    assert button["data"]() == tables.table_csv(_rows(3)) and made == [1]
    assert b"'=cmd0" in button["data"]()  # the same formula-neutral CSV
