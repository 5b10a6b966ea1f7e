"""`IssueColumns`: an import's warnings as one Arrow table, `ImportIssue` objects only when read.

A file import can warn about a tenth of its sessions (a TTL outside the API's range, a low rate
limit, conflicting records): 31,517 warnings for the 378,197 sessions of the sample data, ~160,000 at
a million. As pydantic objects they cost ~1.3 KB each and a constructor call apiece (issue 8, 9);
as columns (level, file and field dictionary-encoded, the message too: its few shapes repeat) about
a tenth of that, built by column where they are made (`columnar._config_warnings`). Nothing here
builds an object per warning until something reads one: an index, an iteration (a chunk at a
time), `frame()` for the dashboard's table.

`key` is the number `importer._sorted` orders a file's issues by: the first run of digits in the
location (`row 7`, `line 3`, `$.data[4]`), -1 when there is none. `sorted` is that order, exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from chatkit.domain.models import ImportIssue, IssueLevel

_TEXT = pa.dictionary(pa.int32(), pa.string())
ISSUE_SCHEMA = pa.schema(
    [
        pa.field("level", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("file", _TEXT, nullable=False),
        pa.field("location", pa.string(), nullable=False),
        pa.field("session_id", pa.string()),
        pa.field("field", _TEXT),
        pa.field("message", _TEXT, nullable=False),
        pa.field("key", pa.int64(), nullable=False),
    ]
)
_ISSUE_FIELDS = [f.name for f in ISSUE_SCHEMA if f.name != "key"]
_CHUNK = 4096  # rows turned into objects at a time while iterating
_NUMBER = re.compile(r"\d+")  # `importer._sorted`'s: Unicode digits too, as int() reads them
_BIG = 2**63 - 1  # a key past int64 is stored as this and sorted by its exact number (`sorted`)


def location_key(location: str) -> int:
    """The first run of digits in `location` as a number, -1 when there is none (`importer._sorted`)."""
    number = _NUMBER.search(location)
    return int(number.group()) if number else -1


class IssueColumns(Sequence[ImportIssue]):
    """A read-only sequence of `ImportIssue` over an `ISSUE_SCHEMA` table."""

    __slots__ = ("_table",)
    __hash__ = None  # type: ignore[assignment]  # equal to lists: unhashable like them

    def __init__(self, table: pa.Table | None = None) -> None:
        self._table = ISSUE_SCHEMA.empty_table() if table is None else table.cast(ISSUE_SCHEMA)

    # ---- building ---------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        *,
        file: str,
        location: pa.Array | Sequence[str],
        session_id: pa.Array | Sequence[str | None],
        field: pa.Array | Sequence[str | None],
        message: pa.Array | Sequence[str],
        key: np.ndarray | Sequence[int],
        level: IssueLevel = IssueLevel.warning,
    ) -> IssueColumns:
        """Issues of one file and level, from columns (arrays or lists) of equal length. `key` is
        each location's number (a row or line: the caller knows it, no text is searched)."""
        n = len(location)
        zeros = pa.array(np.zeros(n, dtype=np.int32))
        columns = {
            "level": pa.DictionaryArray.from_arrays(zeros, pa.array([level.value])),
            "file": pa.DictionaryArray.from_arrays(zeros, pa.array([file])),
            "location": pa.array(location, type=pa.string()),
            "session_id": pa.array(session_id, type=pa.string()),
            "field": pa.array(field, type=pa.string()).dictionary_encode(),
            "message": pa.array(message, type=pa.string()).dictionary_encode(),
            "key": pa.array(np.asarray(key, dtype=np.int64)),
        }
        return cls(pa.table(columns))

    @classmethod
    def from_issues(cls, issues: Iterable[ImportIssue]) -> IssueColumns:
        """Objects as columns (the few issues made as objects: a reader's, the row path's)."""
        if isinstance(issues, IssueColumns):
            return issues
        items = list(issues)
        columns: dict[str, Any] = {
            "level": [IssueLevel(i.level).value for i in items],
            "file": [i.file for i in items],
            "location": [i.location for i in items],
            "session_id": [i.session_id for i in items],
            "field": [i.field for i in items],
            "message": [i.message for i in items],
            "key": [min(location_key(i.location), _BIG) for i in items],
        }
        arrays = {
            name: pa.array(values, type=ISSUE_SCHEMA.field(name).type) for name, values in columns.items()
        }
        return cls(pa.table(arrays))

    @staticmethod
    def concat(parts: Iterable[Sequence[ImportIssue]]) -> IssueColumns:
        """The parts one after another (lists are taken as columns first)."""
        tables = [IssueColumns.from_issues(part)._table for part in parts]
        tables = [table for table in tables if table.num_rows]
        if not tables:
            return IssueColumns()
        # Chunks with their own dictionaries: `take` and `cast` unify them when they need to.
        return IssueColumns(pa.concat_tables(tables) if len(tables) > 1 else tables[0])

    # ---- reading ----------------------------------------------------------------------------------
    @property
    def table(self) -> pa.Table:
        return self._table

    @property
    def nbytes(self) -> int:
        return int(self._table.nbytes)

    def __len__(self) -> int:
        return int(self._table.num_rows)

    @overload
    def __getitem__(self, index: int) -> ImportIssue: ...

    @overload
    def __getitem__(self, index: slice) -> IssueColumns: ...

    def __getitem__(self, index: int | slice) -> ImportIssue | IssueColumns:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return IssueColumns(self._table.slice(start, max(0, stop - start)))
            return IssueColumns(self._table.take(pa.array(np.arange(start, stop, step), type=pa.int64())))
        n = len(self)
        position = index + n if index < 0 else index
        if not 0 <= position < n:
            raise IndexError("issue index out of range")
        return ImportIssue(**{name: self._table.column(name)[position].as_py() for name in _ISSUE_FIELDS})

    def __iter__(self) -> Iterator[ImportIssue]:
        for start in range(0, len(self), _CHUNK):
            yield from _issues(self._table.slice(start, _CHUNK))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __repr__(self) -> str:
        return f"IssueColumns({len(self)} issues)"

    # ---- ordering, choosing, showing --------------------------------------------------------------
    def sorted(self, order: Mapping[str, int]) -> IssueColumns:
        """`importer._sorted`: by file (`order`, unknown files last), then location number; stable."""
        if len(self) == 0:
            return self
        rank = self._file_rank(order)
        key = self._table.column("key").to_numpy()
        if (key == _BIG).any():  # a number past int64 (no real row): today's sort, exactly
            locations = self._table.column("location").to_pylist()
            exact = [location_key(text) for text in locations]
            slow = sorted(range(len(self)), key=lambda i: (int(rank[i]), exact[i]))
            return IssueColumns(self._table.take(pa.array(slow, type=pa.int64())))
        positions = np.lexsort((key, rank))  # stable: ties keep their order, as `sorted` does
        return IssueColumns(self._table.take(pa.array(positions)))

    def _file_rank(self, order: Mapping[str, int]) -> np.ndarray:
        names = pa.array(list(order), type=pa.string())
        ranks = np.append(np.asarray(list(order.values()), dtype=np.int64), len(order))
        out = []
        for chunk in self._table.column("file").chunks:  # by dictionary: a lookup per file, not per row
            found = pc.index_in(chunk.dictionary, value_set=names)
            per_name = ranks[np.asarray(pc.fill_null(found, len(order)).to_numpy(zero_copy_only=False))]
            out.append(per_name[chunk.indices.to_numpy(zero_copy_only=False)])
        return np.concatenate(out)

    def filter(self, mask: pa.Array | pa.ChunkedArray | np.ndarray) -> IssueColumns:
        """The issues where `mask` is true."""
        return IssueColumns(self._table.filter(mask))

    def frame(self) -> pd.DataFrame:
        """`chatkit.analytics.tables.issues_table` of these issues, from the columns."""
        columns = ["file", "row", "session", "field", "message"]
        if len(self) == 0:
            return pd.DataFrame([], columns=columns)  # as issues_table's: no rows, no dtypes
        table = self._table
        values = {
            "file": table.column("file"),
            "row": table.column("location"),
            "session": pc.fill_null(table.column("session_id"), ""),
            "field": pc.fill_null(table.column("field").cast(pa.string()), ""),
            "message": table.column("message"),
        }
        return pa.table({name: pc.cast(v, pa.string()) for name, v in values.items()}).to_pandas()


def _issues(table: pa.Table) -> list[ImportIssue]:
    columns = [_values(table.column(name)) for name in _ISSUE_FIELDS]
    return [
        ImportIssue(
            level=level, file=file, location=location, session_id=session, field=field, message=message
        )
        for level, file, location, session, field, message in zip(*columns, strict=True)
    ]


def _values(column: pa.ChunkedArray) -> list[Any]:
    """A column's values; a dictionary's decoded first (pyarrow's `to_pylist` of a dictionary array
    makes a scalar per value: ~40x slower), only the rows asked for (a slice keeps the whole
    dictionary)."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.to_pylist()
