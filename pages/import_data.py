"""Import: upload exports or paste a session, read the import report, save a data set."""

import streamlit as st

from chatkit.analytics import tables
from chatkit.web import import_data as imp
from chatkit.web.nav import switch_page
from chatkit.web.setup import page_setup
from chatkit.web.widgets import load_sample

ctx = page_setup("import")

st.title("Import sessions")
st.caption(
    "Upload ChatKit session exports (API responses, response logs, your own enriched exports) or paste "
    "one session's JSON. Good rows are kept; every problem is listed with where it is."
)

sample_col, _ = st.columns([1, 3])
if sample_col.button("Load sample data", icon=":material/science:", help="A realistic day of sessions"):
    sample_id = load_sample(ctx.store)
    ctx.audit("import", detail="built-in sample", dataset_id=sample_id)
    switch_page("overview", {"ds": sample_id})

upload_col, paste_col = st.columns(2)
uploads = upload_col.file_uploader(
    "Files (JSON, JSONL or CSV)",
    type=["json", "jsonl", "ndjson", "csv", "txt"],
    accept_multiple_files=True,
    help=f"Several files make one data set. Up to {ctx.settings.chatkit_max_upload_mb} MB per file, "
    f"{ctx.settings.chatkit_max_import_mb} MB in all.",
)
pasted = paste_col.text_area(
    "Or paste one session's JSON (or a list of them)",
    placeholder=imp.SEED_EXAMPLE,
    height=260,
    max_chars=ctx.settings.chatkit_max_paste_kb * 1024,
)

files = [(f.name, f.getvalue()) for f in uploads or []]
if pasted.strip():
    files.append(("pasted JSON", pasted.encode()))

if files:
    result = imp.import_once(files, ctx.settings)

    st.subheader("Import report")
    counts = st.columns(4)
    counts[0].metric("Files", len(result.files) or len(files))
    counts[1].metric("Sessions read", f"{result.session_count:,}")
    counts[2].metric("Errors", len(result.errors))
    counts[3].metric("Warnings", len(result.warnings))
    if result.errors:
        st.error(
            f"{len(result.errors)} row(s) could not be imported; the {result.session_count:,} good sessions "
            "are kept. Fix the rows below in the export and upload it again if you need them.",
            icon=":material/error:",
        )
        imp.issues_table(ctx, result.errors, "errors", result.files or [n for n, _ in files])
    if result.warnings:
        with st.expander(f"Warnings ({len(result.warnings)}): imported, but worth a look"):
            imp.issues_table(ctx, result.warnings, "warnings", result.files or [n for n, _ in files])

    if result.session_count:
        with st.expander(f"Preview of the {result.session_count:,} sessions read"):
            imp.sessions_preview(ctx, result.head(200), result.files or [n for n, _ in files])
        with st.form("save_dataset", border=False):
            name = st.text_input(
                "Data set name", value=tables.default_dataset_name(result.files or [n for n, _ in files])
            )
            if st.form_submit_button("Save and open the Overview", type="primary", icon=":material/save:"):
                dataset_id = imp.save(ctx, name, result, result.files or [n for n, _ in files])
                switch_page("overview", {"ds": dataset_id})
    else:
        st.warning(
            "Nothing to save: no session could be read. See the errors above.", icon=":material/block:"
        )

st.subheader("Stored data sets")
if not ctx.datasets:
    st.caption("None yet. Upload files above or load the sample data.")
else:
    imp.datasets_table(ctx.datasets)
    for dataset in ctx.datasets:
        imp.dataset_row(ctx, dataset)
