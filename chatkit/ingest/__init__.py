"""Read ChatKit session exports (JSON, JSONL, CSV) into validated, merged `ChatKitSession`s.

Inputs are detected from content (the file name is only a hint). Each file goes

    decode (bytes → text)  →  sniff (which reader)  →  read (json_reader | csv_reader → records)
        →  validate (record → session, or a precise issue)  →  lifecycle merge (chatkit.domain)

with the wording of every problem in `messages`. Files are read by columns (`columnar`, the plain rows
straight into a session table; any other row by today's row path, `importer`) into a `TableImport`:
the session table plus the raw records, from which `ChatKitSession`s are built on demand
(`table_import`), and the warnings as columns (`issue_columns`). `import_records` (dicts from Python or REST callers) is today's row path. The entry
points are re-exported here; the modules behind them are internal and may change.
"""

from __future__ import annotations

from chatkit.ingest.csv_reader import DEFAULT_MAX_FIELD_BYTES
from chatkit.ingest.decode import DEFAULT_MAX_BYTES
from chatkit.ingest.importer import import_records
from chatkit.ingest.table_import import TableImport, import_bytes, import_files, import_paths, import_text

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FIELD_BYTES",
    "TableImport",
    "import_bytes",
    "import_files",
    "import_paths",
    "import_records",
    "import_text",
]
