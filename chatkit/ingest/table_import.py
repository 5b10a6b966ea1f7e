"""The default import's result: one session table and the raw records, sessions built on demand.

`columnar.import_columnar` reads one file into a `TABLE_SCHEMA` table (one row per session, the
lifecycle merged inside the file) and the raw records behind it (`PackedRecords`). `combine` makes one
import of several files: an id seen in more than one file is one session (today's `import_files`
merges lifecycles across files), so those few sessions are rebuilt from all their records by
today's row path and replace their per-file rows, with their conflict and configuration warnings.

`sessions_from_records` is that row path for any ids: each record → `validate_one` (CSV cells via
`csv_reader`'s record-from-cells, JSON text via `json.loads`), then `merge_lifecycle` over the id's
records in file and row order — so a session built here equals today's importer's session. The store
calls it to build one session's object from a saved data set.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import PrivateAttr

from chatkit.domain.lifecycle import Origin, merge_lifecycle
from chatkit.domain.models import ChatKitSession, ImportIssue, ImportResult, IssueLevel
from chatkit.ingest import importer
from chatkit.ingest.columnar import (
    TABLE_SCHEMA,
    ColumnarImport,
    _KeepRecords,
    import_columnar,
    row_path_import,
    sessions_table,
)
from chatkit.ingest.csv_reader import DEFAULT_MAX_FIELD_BYTES
from chatkit.ingest.decode import DEFAULT_MAX_BYTES
from chatkit.ingest.importer import _sorted, read_paths
from chatkit.ingest.issue_columns import IssueColumns
from chatkit.ingest.messages import over_total
from chatkit.ingest.parsed import Parsed
from chatkit.ingest.records import PackedRecords, RecordsPart
from chatkit.ingest.validate import config_field, validate_one

_WORDS = {"csv": "row", "jsonl": "line"}


def import_files(
    files: Sequence[tuple[str, bytes]],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
    max_total_bytes: int | None = None,
) -> TableImport:
    """Several files -> one data set; the lifecycle records of one id are merged across files.
    Files past `max_total_bytes` in all (CHATKIT_MAX_IMPORT_MB) are reported, not read."""
    imports, total = [], 0
    for name, data in files:
        total += len(data)
        if max_total_bytes is not None and total > max_total_bytes:
            imports.append(issue_only(name, over_total(name, max_total_bytes)))
        else:
            imports.append(import_columnar(name, data, max_bytes=max_bytes, max_field_bytes=max_field_bytes))
    return combine(imports)


def import_bytes(
    name: str,
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
) -> TableImport:
    return import_files([(name, data)], max_bytes=max_bytes, max_field_bytes=max_field_bytes)


def import_text(
    text: str,
    name: str = "pasted JSON",
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
) -> TableImport:
    """Pasted text: JSON, JSONL or CSV, detected from the content. Pastes are small (a setting caps
    them), so they take today's row path, keeping their records."""
    issue = importer.paste_too_big(text, name, max_bytes)
    if issue is not None:
        return combine([issue_only(name, issue)])
    kept = _KeepRecords()
    parsed = importer._parse_text(Parsed(name, kept), text, max_field_bytes)
    return combine([row_path_import(parsed, kept, "pasted text")])


def import_paths(
    paths: Sequence[str | Path],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
    max_total_bytes: int | None = None,
) -> TableImport:
    """Files on disk; one over `max_bytes`, or past `max_total_bytes` in all, is reported unread.
    Each file's bytes are freed once its table is read."""
    imports = []
    for name, data, issue in read_paths(paths, max_bytes, max_total_bytes):
        if data is None:
            assert issue is not None
            imports.append(issue_only(name, issue))
        else:
            imports.append(import_columnar(name, data, max_bytes=max_bytes, max_field_bytes=max_field_bytes))
        del data
    return combine(imports)


class TableImport(ImportResult):
    """An import as a session table (`TABLE_SCHEMA`, one row per session in order of first
    appearance) plus the raw records; `sessions` builds every object on first use (small imports,
    tests), `sessions_for` only some."""

    _table: pa.Table = PrivateAttr()
    _records: list[PackedRecords] = PrivateAttr(default_factory=list)

    @property
    def table(self) -> pa.Table:
        return self._table

    @property
    def records(self) -> list[PackedRecords]:
        return self._records

    @property
    def session_count(self) -> int:
        return int(self._table.num_rows)

    def session_ids(self) -> list[str]:
        return [str(i) for i in self._table.column("id").to_pylist()]

    def sessions_for(self, ids: Collection[str]) -> list[ChatKitSession]:
        return sessions_from_records(self._records, ids)

    def head(self, limit: int) -> list[ChatKitSession]:
        if self._sessions is not None:
            return self._sessions[:limit]
        return self.sessions_for(self._table.column("id").slice(0, limit).to_pylist())

    def _build_sessions(self) -> list[ChatKitSession]:
        return sessions_from_records(self._records, None)


def table_import(
    table: pa.Table,
    records: list[PackedRecords],
    errors: list[ImportIssue],
    warnings: IssueColumns,
    files: list[str],
    rows_read: int,
) -> TableImport:
    result = TableImport(errors=errors, files=files, rows_read=rows_read)
    result.warnings = warnings
    result._table = table
    result._records = records
    return result


def issue_only(name: str, issue: ImportIssue) -> ColumnarImport:
    """A file that was not read (too big, past the total, not found): its one issue."""
    errors = [issue] if issue.level == IssueLevel.error else []
    warnings = IssueColumns.from_issues([] if errors else [issue])
    return ColumnarImport(table=TABLE_SCHEMA.empty_table(), errors=errors, warnings=warnings, files=[name])


def combine(imports: Sequence[ColumnarImport]) -> TableImport:
    """One import of several files' columnar imports, lifecycles merged across files."""
    files = list(dict.fromkeys(name for part in imports for name in part.files))
    order = {name: index for index, name in enumerate(files)}
    records = [part for imported in imports for part in imported.records]
    errors = _sorted([issue for imported in imports for issue in imported.errors], order)
    warnings = IssueColumns.concat(imported.warnings for imported in imports)
    rows_read = sum(imported.rows_read for imported in imports)
    tables = [imported.table for imported in imports if imported.table.num_rows]
    table = pa.concat_tables(tables) if tables else TABLE_SCHEMA.empty_table()
    if len(tables) > 1:
        table, warnings = _merge_across_files(table, records, warnings)
    return table_import(table, records, errors, warnings.sorted(order), files, rows_read)


def _merge_across_files(
    table: pa.Table, records: list[PackedRecords], warnings: IssueColumns
) -> tuple[pa.Table, IssueColumns]:
    """Rows of one id from several files → the one session today's merge makes of all its records.

    Inside a file each id is one row already, so an id repeated in the concatenated table is in
    several files. Their per-file merge and configuration warnings are replaced by the warnings of
    the merge over all their records, as today's `import_files` words them.
    """
    encoded = pc.dictionary_encode(table.column("id").combine_chunks())  # no Python string per row
    codes = encoded.indices.to_numpy()
    _, first_index = np.unique(codes, return_index=True)
    repeated = np.ones(len(codes), dtype=bool)
    repeated[first_index] = False
    if not repeated.any():
        return table, warnings
    cross = set(encoded.dictionary.take(pa.array(np.unique(codes[repeated]))).to_pylist())
    first = table.filter(pa.array(~repeated))
    sessions, merge_warnings, last_origin = _rebuild(records, cross)
    rebuilt = sessions_table(sessions)
    cross_ids = pa.array(sorted(cross), type=pa.string())
    positions = np.flatnonzero(pc.is_in(first.column("id"), value_set=cross_ids).to_numpy())
    take = np.arange(first.num_rows)
    take[positions] = first.num_rows + np.arange(rebuilt.num_rows)
    table = pa.concat_tables([first, rebuilt]).combine_chunks().take(pa.array(take))
    kept = warnings.filter(pc.invert(pc.is_in(warnings.table.column("session_id"), value_set=cross_ids)))
    config = [
        ImportIssue(
            level=IssueLevel.warning,
            file=last_origin[s.id][0],
            location=last_origin[s.id][1],
            session_id=s.id,
            field=config_field(text),
            message=text,
        )
        for s in sessions
        for text in s.config_warnings()
    ]
    return table, IssueColumns.concat([kept, merge_warnings, config])


def sessions_from_records(
    parts: Sequence[PackedRecords], ids: Collection[str] | None
) -> list[ChatKitSession]:
    """The sessions of `ids` (all when None) built from their raw records, as today's importer does."""
    return _rebuild(parts, ids)[0]


def _rebuild(
    packed: Sequence[PackedRecords], ids: Collection[str] | None
) -> tuple[list[ChatKitSession], list[ImportIssue], dict[str, Origin]]:
    files = {name: index for index, name in enumerate(dict.fromkeys(part.file for part in packed))}
    wanted = sorted(set(ids)) if ids is not None else None
    found: list[tuple[int, int, int, ChatKitSession, Origin]] = []
    for one in packed:
        part = one.unpack(wanted)
        for (_, row, record), location in zip(part.records(), _locations(part), strict=True):
            origin = (part.file, location)
            session = validate_one(record, origin, [])
            if session is not None:  # always: only records that became a session are kept
                found.append((files[part.file], row, len(found), session, origin))
    found.sort(key=lambda item: item[:3])  # file order, then row: a CSV's row-path part comes last
    sessions = [item[3] for item in found]
    origins = [item[4] for item in found]
    merged, warnings = merge_lifecycle(sessions, origins)
    last_origin = dict(zip((s.id for s in sessions), origins, strict=True))
    return merged, warnings, last_origin


def _locations(part: RecordsPart) -> list[str]:
    """Each record's location as today's readers word it (`row 7`, `line 3`, `$.data[4]`)."""
    if "location" in part.table.column_names:
        return [str(text) for text in part.table.column("location").to_pylist()]
    rows: list[Any] = part.table.column("row").to_pylist()
    word = _WORDS.get(part.kind)
    if word is not None:
        return [f"{word} {row}" for row in rows]
    return [f"$[{row}]" for row in rows]
