"""Today's row path: files, bytes, pasted text, paths and records → one `ImportResult` of objects.

The default file import is `chatkit.ingest.table_import` (a session table, objects on demand); this
module stays the reference it is tested against, the path of `import_records` (Python and REST
callers), and the fallback a columnar reader hands a file it does not read itself.

Each file goes decode → sniff → read (JSON, JSONL or CSV) into records with their origins; all
records then take the one validation path (`import_records`) and the lifecycle merge
(`chatkit.domain.lifecycle`). Problems become `ImportIssue`s naming the file, where (`row 7`,
`line 3`, `$.data[4]`, `whole file`), the session id and the field; a bad row never costs its
neighbours. Secret-like fields (`client_secret`, ...) are dropped and their values never appear in a
message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatkit.domain.lifecycle import Origin, merge_lifecycle
from chatkit.domain.models import ChatKitSession, ImportIssue, ImportResult, IssueLevel
from chatkit.ingest.csv_reader import DEFAULT_MAX_FIELD_BYTES, parse_csv
from chatkit.ingest.decode import DEFAULT_MAX_BYTES, decode
from chatkit.ingest.json_reader import parse_json, parse_jsonl
from chatkit.ingest.messages import file_issue, over_total, too_big
from chatkit.ingest.parsed import Parsed
from chatkit.ingest.sniff import sniff
from chatkit.ingest.validate import config_field, validate_one


def import_files(
    files: Sequence[tuple[str, bytes]],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
    max_total_bytes: int | None = None,
) -> ImportResult:
    """Several files -> one data set; the lifecycle records of one id are merged across files.
    Files past `max_total_bytes` in all (CHATKIT_MAX_IMPORT_MB) are reported, not read."""
    validated = _Validated()
    parsed, total = [], 0
    for name, data in files:
        total += len(data)
        if max_total_bytes is not None and total > max_total_bytes:
            parsed.append(Parsed(name, issues=[over_total(name, max_total_bytes)]))
            continue
        parsed.append(_parse_bytes(name, data, max_bytes, max_field_bytes, validated))
    return _finish(parsed, validated)


def import_bytes(
    name: str,
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
) -> ImportResult:
    return import_files([(name, data)], max_bytes=max_bytes, max_field_bytes=max_field_bytes)


def import_text(
    text: str,
    name: str = "pasted JSON",
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
) -> ImportResult:
    """Pasted text: JSON, JSONL or CSV, detected from the content."""
    issue = paste_too_big(text, name, max_bytes)
    if issue is not None:
        return _finish([Parsed(name, issues=[issue])], _Validated())
    validated = _Validated()
    return _finish([_parse_text(Parsed(name, validated), text, max_field_bytes)], validated)


def paste_too_big(text: str, name: str, max_bytes: int) -> ImportIssue | None:
    """The issue of a pasted text over `max_bytes` in UTF-8 (encoded only when it could be)."""
    if len(text) > max_bytes // 4 and len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        return too_big(name, len(text.encode("utf-8", "surrogatepass")), max_bytes)
    return None


def import_paths(
    paths: Sequence[str | Path],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
    max_total_bytes: int | None = None,
) -> ImportResult:
    """Files on disk; one over `max_bytes`, or past `max_total_bytes` in all, is reported unread."""
    validated = _Validated()
    parsed = []
    for name, data, issue in read_paths(paths, max_bytes, max_total_bytes):
        if data is None:
            parsed.append(Parsed(name, issues=[issue] if issue is not None else []))
        else:
            parsed.append(_parse_bytes(name, data, max_bytes, max_field_bytes, validated))
    return _finish(parsed, validated)


def read_paths(
    paths: Sequence[str | Path], max_bytes: int, max_total_bytes: int | None
) -> Iterator[tuple[str, bytes | None, ImportIssue | None]]:
    """(name, bytes, None) of each readable file in turn, or (name, None, why it was not read)."""
    total = 0
    for raw in paths:
        name = str(raw)
        path = Path(raw)
        try:
            size = path.stat().st_size
            if not path.is_file():
                yield name, None, file_issue(name, "is not a file (a folder?)")
                continue
            if size > max_bytes:
                yield name, None, too_big(name, size, max_bytes)
                continue
            total += size
            if max_total_bytes is not None and total > max_total_bytes:
                yield name, None, over_total(name, max_total_bytes)
                continue
            data = path.read_bytes()
        except FileNotFoundError:
            yield name, None, file_issue(name, "file not found")
            continue
        except OSError as exc:
            yield name, None, file_issue(name, f"cannot be read: {exc.strerror or exc}")
            continue
        yield name, data, None


def import_records(
    records: Sequence[Any],
    source: str = "request",
    *,
    origins: Sequence[Origin] | None = None,
) -> ImportResult:
    """Validate dicts (from Python or REST callers, and from every file importer) and merge lifecycles.

    `origins` gives each record's (file, location); by default `source` and its JSON path `$[i]`.
    """
    validated = _Validated()
    for index, record in enumerate(records):
        validated(record, origins[index] if origins is not None else (source, f"$[{index}]"))
    files = list(dict.fromkeys(file for file, _ in origins)) if origins is not None else [source]
    return _merged(validated, files, rows_read=len(records))


@dataclass
class _Validated:
    """The record sink of one import: each record is validated the moment it is read, so its raw
    dict is freed at once. Holding every raw record until the end kept far more objects alive, and
    each full pass of the garbage collector walks all of them (50,000 JSONL sessions: 11 full
    passes → 9, and a lower peak)."""

    sessions: list[ChatKitSession] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    errors: list[ImportIssue] = field(default_factory=list)

    def __call__(self, record: Any, origin: Origin) -> None:
        session = validate_one(record, origin, self.errors)
        if session is not None:
            self.sessions.append(session)
            self.origins.append(origin)


def _merged(validated: _Validated, files: list[str], rows_read: int) -> ImportResult:
    """The lifecycle merge of the validated sessions, with their configuration warnings."""
    merged, warnings = merge_lifecycle(validated.sessions, validated.origins)
    last_origin = dict(zip((s.id for s in validated.sessions), validated.origins, strict=True))
    for session in merged:
        file, location = last_origin[session.id]
        warnings.extend(
            ImportIssue(
                level=IssueLevel.warning,
                file=file,
                location=location,
                session_id=session.id,
                field=config_field(text),
                message=text,
            )
            for text in session.config_warnings()
        )
    return ImportResult(
        sessions=merged, errors=validated.errors, warnings=warnings, files=files, rows_read=rows_read
    )


def _parse_bytes(name: str, data: bytes, max_bytes: int, max_field_bytes: int, sink: _Validated) -> Parsed:
    parsed = Parsed(name, sink)
    text = decode(data, parsed, max_bytes)
    if text is None:
        return parsed
    return _parse_text(parsed, text, max_field_bytes)


def _parse_text(parsed: Parsed, text: str, max_field_bytes: int) -> Parsed:
    sniffed = sniff(text, parsed)
    if sniffed is None:
        return parsed
    if sniffed.format == "jsonl":
        parse_jsonl(sniffed.text, parsed)
    elif sniffed.format == "json":
        parse_json(sniffed.text, sniffed.start, parsed)
    else:
        parse_csv(sniffed.text, parsed, max_field_bytes)
    return parsed


def _finish(parsed: list[Parsed], validated: _Validated) -> ImportResult:
    for part in parsed:
        if not part.added and not part.issues:
            part.warn("the file holds no sessions")
    names = list(dict.fromkeys(part.name for part in parsed))
    result = _merged(validated, names, rows_read=sum(part.rows for part in parsed))
    issues = [issue for part in parsed for issue in part.issues]
    order = {name: index for index, name in enumerate(names)}
    result.errors = _sorted(result.errors + [i for i in issues if i.level == IssueLevel.error], order)
    result.warnings = _sorted(
        [*result.warnings, *(i for i in issues if i.level == IssueLevel.warning)], order
    )
    return result


def _sorted(issues: list[ImportIssue], order: dict[str, int]) -> list[ImportIssue]:
    def key(issue: ImportIssue) -> tuple[int, int]:
        number = re.search(r"\d+", issue.location)
        return order.get(issue.file, len(order)), int(number.group()) if number else -1

    return sorted(issues, key=key)
