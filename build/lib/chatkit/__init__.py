"""ChatKit Session Analytics: why ChatKit sessions were cancelled or expired, and what to do about it.

The public API is what this module exports; every other module is internal and may move.
"""

from chatkit.domain.models import (
    Category,
    ChatKitSession,
    Diagnosis,
    ImportIssue,
    ImportResult,
    SessionReport,
    Severity,
    SummaryReport,
)
from chatkit.domain.rules import diagnose
from chatkit.ingest import import_files, import_paths, import_records
from chatkit.reports.analyzer import ChatKitAnalyzer
from chatkit.settings import Settings, load_settings
from chatkit.store import Store

__all__ = [
    "Category",
    "ChatKitAnalyzer",
    "ChatKitSession",
    "Diagnosis",
    "ImportIssue",
    "ImportResult",
    "SessionReport",
    "Settings",
    "Severity",
    "Store",
    "SummaryReport",
    "diagnose",
    "import_files",
    "import_paths",
    "import_records",
    "load_settings",
]
