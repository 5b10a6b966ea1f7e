"""CSV → records: dotted or snake columns, every cell read as text, then typed the way pandas wrote it.

Columns as `pandas.json_normalize(...).to_csv()` writes them (`workflow.id`,
`rate_limits.max_requests_per_1_minute`, `512.0`, `True`, a leading index column) or snake columns
(`workflow_id`, `workflow_version`, `customer_id`); `,` `;` or tab, from the header line. An empty cell
is an absent value, a literal `NaN` is an error. Rows are counted as a spreadsheet shows them (header =
row 1). A cell over `max_field_bytes` (the CHATKIT_MAX_FIELD_BYTES setting) is a row error naming its
column.

The parser is CPython's own csv reader, from a private instance of its `_csv` extension module: the
csv module's field limit (`csv.field_size_limit`, 131,072 characters by default) is one setting for
the whole process, and raising it here would change it for every other thread and library. The private
instance has a limit of its own, which nothing else sees; our limit is then checked per cell.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chatkit.domain.lifecycle import TERMINAL_STATUSES
from chatkit.domain.secrets import is_secret_key
from chatkit.ingest.messages import clip, mb
from chatkit.ingest.parsed import Parsed

DEFAULT_MAX_FIELD_BYTES = 4 * 1024 * 1024  # today's exports hold cells of a few MB at most (long reasons)
# Above this a list/dict cell stays text: decoded JSON of many small values takes ~50 times its text
# in memory and, past the CPU caches, superlinear time (1 MB of "[[1]]," took 80 times 100 KB's).
# Real state_variables cells are a few KB.
JSON_CELL_MAX_CHARS = 64 * 1024
_PARSER_FIELD_LIMIT = 2**31 - 1  # fits a C long everywhere; above any file the importer reads

# CSV columns whose cells stay text even when they look like numbers (ids, versions, free text).
_TEXT_PATHS = {
    ("id",),
    ("object",),
    ("status",),
    ("user",),
    ("reason",),
    ("workflow", "id"),
    ("workflow", "version"),
    ("scope", "customer_id"),
}
_SNAKE_COLUMNS = {
    "workflow_id": ("workflow", "id"),
    "workflow_version": ("workflow", "version"),
    "customer_id": ("scope", "customer_id"),
    "scope_customer_id": ("scope", "customer_id"),
    "rate_limits_max_requests_per_1_minute": ("rate_limits", "max_requests_per_1_minute"),
}
_INDEX_HEADERS = {"", "unnamed: 0", "index"}
_INT = re.compile(r"[-+]?(?:0|[1-9]\d{0,17})")
_FLOAT = re.compile(
    r"[-+]?(?:\d{1,30}\.\d{0,30}|\.\d{1,30})(?:[eE][-+]?\d{1,3})?|[-+]?\d{1,30}[eE][-+]?\d{1,3}"
)
NON_FINITE = {"nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
TRUE_WORDS = {"true", "True", "TRUE"}
FALSE_WORDS = {"false", "False", "FALSE"}


def _private_parser() -> tuple[Callable[..., Iterator[list[str]]], type[Exception]]:
    """`reader` and `Error` of our own `_csv` instance with a limit above any file we read.

    `_csv` keeps its field limit in per-module state (multi-phase init, PEP 489), so a second instance
    has its own. Should an interpreter ever hand back the shared instance, the shared limit is left as
    it is: a cell over it then ends the read with a message naming the row."""
    spec = importlib.util.find_spec("_csv")
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if module.field_size_limit is not csv.field_size_limit and module.Error is not csv.Error:
            module.field_size_limit(_PARSER_FIELD_LIMIT)
            return module.reader, module.Error
    return csv.reader, csv.Error


csv_rows, _CsvError = _private_parser()


@dataclass
class Column:
    index: int
    name: str
    path: tuple[str, ...]
    text: bool  # keep the cell as text (ids, versions, free text)


def parse_csv(text: str, parsed: Parsed, max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES) -> None:
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv_rows(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, _CsvError):
        parsed.error("the file is neither JSON nor a readable CSV")
        return
    columns = plan_columns([cell.strip().lstrip("\ufeff") for cell in header], parsed)
    if columns is None:
        return
    row_number = 1
    try:
        for row in reader:
            row_number += 1
            if not row or all(not cell.strip() for cell in row):
                continue
            parsed.rows += 1
            location = f"row {row_number}"
            record = row_record(row, header, columns, parsed, location, max_field_bytes)
            if record is not None:
                parsed.add(record, location)
    except _CsvError as exc:
        parsed.error(f"the CSV cannot be read from here on: {clip(str(exc))}", f"row {row_number + 1}")
    if parsed.rows == 0 and not parsed.issues:
        parsed.warn("the CSV has a header row but no data rows")


def row_record(
    row: list[str],
    header: list[str],
    columns: list[Column],
    parsed: Parsed,
    location: str,
    max_field_bytes: int,
) -> dict[str, Any] | None:
    """One data row -> its record, or None with the row's error reported (a ragged row, an oversized
    cell, a bad cell): the row path of both CSV readers, so their messages are the same words."""
    width = len(header)
    if len(row) != width:
        what = "more" if len(row) > width else "fewer"
        hint = " (an unquoted comma inside a value?)" if len(row) > width else ""
        parsed.error(
            f"this row has {len(row)} cells but the header has {width} columns: {what} cells "
            f"than columns{hint}; the row was skipped",
            location,
        )
        return None
    # A character is at most 4 UTF-8 bytes: a row of shorter cells needs no measuring.
    if max(map(len, row)) > max_field_bytes // 4 and _oversized(
        row, header, parsed, location, max_field_bytes
    ):
        return None
    return cells_record(row, columns, parsed, location)


def _oversized(row: list[str], header: list[str], parsed: Parsed, location: str, limit: int) -> bool:
    """Report the row's first cell over `limit` UTF-8 bytes (naming its column); False when none is."""
    for index, cell in enumerate(row):
        size = len(cell.encode("utf-8", "surrogatepass"))
        if size > limit:
            parsed.error(
                f"this cell holds {mb(size)}, over the {mb(limit)} allowed for one CSV cell "
                "(CHATKIT_MAX_FIELD_BYTES); the row was skipped",
                location,
                field=clip(header[index].strip().lstrip("\ufeff"), 40) or f"column {index + 1}",
            )
            return True
    return False


def plan_columns(header: list[str], parsed: Parsed) -> list[Column] | None:
    names = [name.lower() for name in header]
    if "id" not in names and "session_id" not in names:
        if any(_looks_like_data(cell) for cell in header):
            parsed.error(
                "the CSV has no header row: its first line already holds data. Add a first line naming "
                "the columns, e.g. id,status,workflow.id,max_requests_per_1_minute,current_requests",
                "row 1",
            )
        else:
            shown = ", ".join(clip(n, 30) for n in header[:8]) or "none"
            parsed.error(
                f"this is not JSON, and as CSV it has no 'id' column (columns found: {shown})", "row 1"
            )
        return None
    columns: list[Column] = []
    taken: set[tuple[str, ...]] = set()
    dropped: list[str] = []
    for index, name in enumerate(header):
        lowered = name.lower()
        if index == 0 and lowered in _INDEX_HEADERS:
            continue  # the row index pandas' to_csv() writes first
        if lowered == "id" or (lowered == "session_id" and "id" not in names):
            path: tuple[str, ...] = ("id",)
        elif name in _SNAKE_COLUMNS:
            path = _SNAKE_COLUMNS[name]
        else:
            path = tuple(part.strip() for part in name.split("."))
        if any(is_secret_key(part) for part in path):
            dropped.append(name)
            continue
        if not name or any(not part for part in path):
            parsed.warn(f"column {index + 1} has no usable name and was ignored", "row 1")
            continue
        if path in taken:
            parsed.warn(f"column '{clip(name, 40)}' appears twice; the first one is used", "row 1")
            continue
        taken.add(path)
        columns.append(Column(index, name, path, path in _TEXT_PATHS))
    if dropped:
        parsed.warn(
            f"column(s) {', '.join(clip(d, 40) for d in dropped)} dropped: secrets are never imported",
            "row 1",
        )
    return columns


def _looks_like_data(cell: str) -> bool:
    cell = cell.strip()
    return (
        cell.startswith("cksess_")
        or cell in TERMINAL_STATUSES
        or cell == "active"
        or bool(_INT.fullmatch(cell))
    )


def cells_record(
    row: list[str], columns: list[Column], parsed: Parsed, location: str
) -> dict[str, Any] | None:
    record: dict[str, Any] = {}
    for column in columns:
        cell = row[column.index]
        stripped = cell.strip()
        if not stripped:
            continue  # empty cell = absent value
        if stripped.lower() in NON_FINITE:
            value: Any = float("nan")  # reported with its field by the validation step
        elif column.text:
            value = stripped
        elif len(stripped) > JSON_CELL_MAX_CHARS and stripped[0] in "[{":
            value = stripped
            parsed.warn(
                f"column '{clip(column.name, 40)}': a list/object over {JSON_CELL_MAX_CHARS // 1024} KB "
                "was kept as text, not decoded",
                location,
            )
        else:
            value = _cell_value(stripped)
        node = record
        for key in column.path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                parsed.error(f"column '{clip(column.name, 40)}' conflicts with column '{key}'", location)
                return None
            node = child
        leaf = column.path[-1]
        if isinstance(node.get(leaf), dict):
            parsed.error(f"column '{clip(column.name, 40)}' conflicts with the '{leaf}.…' columns", location)
            return None
        node[leaf] = value
    return record


def _cell_value(cell: str) -> Any:
    """Restore what json_normalize().to_csv() wrote: True/False, 512.0 -> 512, lists/dicts as text."""
    if cell in TRUE_WORDS:
        return True
    if cell in FALSE_WORDS:
        return False
    if _INT.fullmatch(cell):
        return int(cell)
    if _FLOAT.fullmatch(cell):
        number = float(cell)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if cell[0] in "[{" and len(cell) <= JSON_CELL_MAX_CHARS:
        # JSON only: ast.literal_eval builds a syntax tree of ~500 bytes a token (an 8 MB cell took
        # 3.9 GB and 30 s); a Python repr (single quotes, True/None) stays text.
        try:
            value = json.loads(cell)
        except (ValueError, RecursionError):
            return cell
        if isinstance(value, (list, dict)):
            return value
    return cell
