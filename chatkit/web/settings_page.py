"""The Settings page's parts: read-only tables of the configuration and the store, the connection test."""

from __future__ import annotations

from typing import Any

import pandas as pd

from chatkit.domain.access import Action
from chatkit.reports.analyzer import LLMError
from chatkit.web.setup import PageContext


def analyzer_table(view: dict[str, Any]) -> pd.DataFrame:
    """What `Settings.public_view` tells about the analyzer (never a secret: only whether a key is set)."""
    return pd.DataFrame(
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
    )


def store_table(ctx: PageContext) -> pd.DataFrame:
    stats = ctx.store.cache_stats()
    return pd.DataFrame(
        [
            ("data sets", f"{len(ctx.datasets):,}"),
            ("cached analyses", f"{stats.get('entries', 0):,}"),
            ("tokens spent on cached analyses", f"{stats.get('tokens', 0):,}"),
        ],
        columns=["item", "value"],
    )


def check_connection(ctx: PageContext) -> tuple[bool, str]:
    """The analyzer's connection test; failures come back as a message, never a traceback."""
    ctx.require(Action.ANALYZE)
    try:
        return ctx.analyzer.test_connection()
    except LLMError as exc:
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001 - a network or driver error is reported, not raised
        return False, f"the endpoint could not be reached ({type(exc).__name__})"
