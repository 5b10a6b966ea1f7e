"""`Parsed`: what the reading of one file yields — where each record goes, its issues, its row count."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatkit.domain.lifecycle import Origin
from chatkit.domain.models import ImportIssue, IssueLevel

RecordSink = Callable[[Any, Origin], None]  # takes each record, with its (file, location), as it is read


@dataclass
class Parsed:
    """Filled by the decode and reader steps of one file. Each record goes to `sink` as soon as it
    is read (the importer validates it there), so a file's raw records are never all alive at once.
    `rows` counts the records as a reader sees them (a spreadsheet row, a JSONL line, a list item),
    bad ones included; `added` those handed to the sink."""

    name: str
    sink: RecordSink | None = None
    issues: list[ImportIssue] = field(default_factory=list)
    rows: int = 0
    added: int = 0

    def add(self, record: Any, location: str) -> None:
        self.added += 1
        if self.sink is not None:
            self.sink(record, (self.name, location))

    def error(
        self,
        message: str,
        location: str = "whole file",
        level: IssueLevel = IssueLevel.error,
        field: str | None = None,
    ) -> None:
        self.issues.append(
            ImportIssue(level=level, file=self.name, location=location, field=field, message=message)
        )

    def warn(self, message: str, location: str = "whole file") -> None:
        self.error(message, location, IssueLevel.warning)
