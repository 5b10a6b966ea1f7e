"""Settings: read-only status of the configuration, the store and the LLM connection."""

import pandas as pd
import streamlit as st

from chatkit.web import ui

ctx = ui.page_setup("settings")

st.title("Settings")
st.caption(
    "Read-only. Change settings with environment variables, a `.env` file or `.streamlit/secrets.toml` "
    "(see the README's configuration table), then restart the app."
)

view = ctx.settings.public_view()
provider_col, store_col = st.columns(2)
with provider_col:
    st.subheader("Analyzer")
    st.dataframe(
        pd.DataFrame(
            [
                ("provider in use", view["provider"]),
                ("configured provider", view["configured_provider"]),
                ("model", view["model"] if view["provider"] != "offline" else "rules (offline)"),
                ("base URL", view["base_url"]),
                ("API key", "configured" if view["api_key_configured"] else "not set (offline analyzer)"),
                ("requests in flight", str(view["concurrency"])),
                ("requests per minute", str(view["requests_per_minute"])),
                ("ids pseudonymized for the LLM", "yes" if view["pseudonymize_ids"] else "no"),
            ],
            columns=["setting", "value"],
        ),
        hide_index=True,
        width="stretch",
    )
    if st.button("Test connection", icon=":material/network_check:"):
        ok, message = ui.check_connection(ctx)
        if ok:
            st.success(message, icon=":material/check_circle:")
        else:
            st.error(
                f"{message}. Check `LLM_BASE_URL`, `LLM_MODEL` and `LLM_API_KEY`.", icon=":material/error:"
            )

with store_col:
    st.subheader("Store")
    st.code(view["store"], language=None, wrap_lines=True)
    stats = ctx.store.cache_stats()
    st.dataframe(
        pd.DataFrame(
            [
                ("data sets", f"{len(ctx.datasets):,}"),
                ("cached analyses", f"{stats.get('entries', 0):,}"),
                ("tokens spent on cached analyses", f"{stats.get('tokens', 0):,}"),
            ],
            columns=["item", "value"],
        ),
        hide_index=True,
        width="stretch",
    )

with st.expander("Recent audit log (what was analyzed, by whom, with which model)"):
    log = ctx.store.audit_log(limit=50)
    if log:
        st.dataframe(pd.DataFrame(log), hide_index=True, width="stretch")
    else:
        st.caption("Nothing analyzed yet.")
