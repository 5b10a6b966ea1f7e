"""`Parsed`: what one file yields before validation — its records, where each came from, its issues."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatkit.domain.lifecycle import Origin
from chatkit.domain.models import ImportIssue, IssueLevel


@dataclass
class Parsed:
    """Filled by the decode and reader steps of one file; `rows` counts the records as a reader sees
    them (a spreadsheet row, a JSONL line, a list item), bad ones included."""

    name: str
    records: list[Any] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    issues: list[ImportIssue] = field(default_factory=list)
    rows: int = 0

    def add(self, record: Any, location: str) -> None:
        self.records.append(record)
        self.origins.append((self.name, location))

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
