"""Audit (admins): who imported, analyzed, re-analyzed, deleted, exported, signed in or was refused."""

import streamlit as st

from chatkit.web import audit
from chatkit.web.setup import page_setup

ctx = page_setup("audit")  # refuses (and audits) anyone but an admin, deep links included

st.title("Audit")
st.caption(
    "Every action on this store, newest first: who (the signed-in address, an API token's name or "
    "retention; a batch job's rows name whoever queued it), what (imports, analyses, batches, deletions, "
    "every download as an export, sign-ins and refusals), on which data set, with which provider and "
    "model, and how it ended."
)
chosen = audit.filters(ctx)
found = audit.rows(ctx.store, chosen)
if found.empty:
    st.info("No audit row matches these filters.", icon=":material/filter_alt_off:")
else:
    st.caption(
        f"{len(found):,} rows" + (f" (the newest {audit.MAX_ROWS:,})" if len(found) >= audit.MAX_ROWS else "")
    )
    audit.table(ctx, found)
