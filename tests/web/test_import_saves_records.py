"""An upload saved on the Import page is a data set of blobs (no session rows), and the Session and
Batch pages build its sessions on demand — equal to today's importer's."""

from __future__ import annotations

import json

import sqlalchemy as sa
from web.test_ui_pages import isolated, no_failure, open_page, sample_csv, store  # noqa: F401

from chatkit.domain import sample
from chatkit.ingest import importer
from chatkit.store import dataset_sessions
from chatkit.web.nav import PAGE_FILES


def test_an_uploaded_pair_of_files_opens_session_by_session() -> None:
    records = sample.sample_records(30)
    cancels = [{"id": r["id"], "status": "cancelled", "reason": "closed by the agent"} for r in records[:5]]
    files = [
        ("export.csv", sample_csv(30), "text/csv"),
        ("cancels.jsonl", "\n".join(json.dumps(c) for c in cancels).encode(), "application/json"),
    ]
    at = open_page(PAGE_FILES["import"])
    at.file_uploader[0].set_value(files).run()
    no_failure(at)
    assert {m.label: m.value for m in at.metric}["Sessions read"] == "30"
    next(b for b in at.button if "Save" in b.label).click().run()
    no_failure(at)
    (saved,) = store().list_datasets()
    with store()._read() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(dataset_sessions)).scalar()
    assert rows == 0 and saved.session_count == 30

    reference = importer.import_files([(name, data) for name, data, _ in files]).sessions
    merged = reference[2]
    assert merged.reason == "closed by the agent" and len(merged.status_history) == 2
    assert store().load_session(saved.id, merged.id) == merged
    page = open_page(PAGE_FILES["session"], ds=saved.id, sid=merged.id)
    no_failure(page)
    (raw,) = page.json  # the session as it was built for the page: the merged one, history and all
    assert json.loads(raw.value) == merged.model_dump(mode="json", exclude_none=True)
