"""What-if: which observed rate-limit and TTL cancellations a different limit or TTL would have avoided.

Computed from the sessions frame, never guessed:
- a `rate_limited` session is avoided by a per-minute limit L when its requests <= L; sessions without
  a request count cannot be judged and are only counted in the totals;
- a `ttl_expired` session is avoided by a TTL T when its time to end < T; sessions without a known
  time to end are only counted in the totals.
Shares ("avoid 90 %") are of the sessions that can be judged.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import BaseModel

from chatkit.analytics.frame import MISSING_LABEL
from chatkit.domain.models import API_TTL_RANGE_S, Category

THRESHOLD_SHARES = (50, 90, 99)
QUOTE_SHARE = 90  # prevention quotes propose the limit/TTL that avoids at least this share


class WhatIfResult(BaseModel):
    workflow: str | None = None  # None: every workflow
    limit: int | None = None  # the proposed per-minute limit (None: unchanged)
    ttl_s: int | None = None  # the proposed TTL in seconds (None: unchanged)
    rate_limited_total: int = 0  # observed rate-limit cancellations
    rate_limited_evaluable: int = 0  # ... with a request count, so the proposal can be judged
    rate_limited_avoided: int = 0
    ttl_total: int = 0  # observed TTL cancellations/expiries
    ttl_evaluable: int = 0  # ... with a known time to end
    ttl_avoided: int = 0

    @property
    def total(self) -> int:
        return self.rate_limited_total + self.ttl_total

    @property
    def avoided(self) -> int:
        return self.rate_limited_avoided + self.ttl_avoided

    @property
    def avoided_pct(self) -> float | None:
        """Share (0-100) of all observed rate-limit and TTL cancellations avoided."""
        return 100.0 * self.avoided / self.total if self.total else None

    def describe(self) -> str:
        """One or two sentences for a UI caption."""
        scope = f"For {self.workflow}" if self.workflow else "Across all workflows"
        parts = []
        if self.limit is not None:
            parts.append(
                f"a limit of {self.limit}/min would have avoided {self.rate_limited_avoided} of "
                f"{self.rate_limited_total} rate-limit cancellations"
                + _unjudged(self.rate_limited_total - self.rate_limited_evaluable, "a request count")
            )
        if self.ttl_s is not None:
            parts.append(
                f"a TTL of {self.ttl_s} s would have avoided {self.ttl_avoided} of {self.ttl_total} "
                "TTL expiries" + _unjudged(self.ttl_total - self.ttl_evaluable, "a known time to end")
            )
        if not parts:
            return f"{scope}: choose a limit or a TTL to see what it would have avoided."
        return f"{scope}, " + "; ".join(parts) + "."


def _unjudged(count: int, what: str) -> str:
    return f" ({count} without {what} cannot be judged)" if count else ""


def _scope(frame: pd.DataFrame, workflow: str | None) -> pd.DataFrame:
    if workflow is None:
        return frame
    if workflow == MISSING_LABEL:
        return frame[frame["workflow_id"].isna()]
    return frame[(frame["workflow_id"] == workflow).fillna(False).astype(bool)]


def _of_category(frame: pd.DataFrame, category: Category, column: str, dtype: str) -> tuple[int, np.ndarray]:
    """(sessions of `category`, the known values of `column` among them).

    Only the one column is taken: taking the matching rows of every column cost a large share of
    the panel at 1,000,000 sessions.
    """
    mask = (frame["category"] == category).to_numpy(dtype=bool)
    values = frame[column][mask]
    return int(mask.sum()), values.dropna().to_numpy(dtype=dtype)


def _rate_requests(frame: pd.DataFrame) -> tuple[int, np.ndarray]:
    """(all rate-limited sessions, the request counts of those that have one)."""
    return _of_category(frame, Category.rate_limited, "requests", "int64")


def _ttl_times(frame: pd.DataFrame) -> tuple[int, np.ndarray]:
    return _of_category(frame, Category.ttl_expired, "time_to_end_s", "float64")


def what_if(
    frame: pd.DataFrame, *, limit: int | None = None, ttl_s: int | None = None, workflow: str | None = None
) -> WhatIfResult:
    """How many observed cancellations a per-minute `limit` and/or a `ttl_s` would have avoided."""
    rows = _scope(frame, workflow)
    rate_total, requests = _rate_requests(rows)
    ttl_total, times = _ttl_times(rows)
    return WhatIfResult(
        workflow=workflow,
        limit=limit,
        ttl_s=ttl_s,
        rate_limited_total=rate_total,
        rate_limited_evaluable=len(requests),
        rate_limited_avoided=int((requests <= limit).sum()) if limit is not None else 0,
        ttl_total=ttl_total,
        ttl_evaluable=len(times),
        ttl_avoided=int((times < ttl_s).sum()) if ttl_s is not None else 0,
    )


def _smallest_limit(requests: np.ndarray, share: float) -> int | None:
    """Smallest L with requests <= L for at least `share` % of the sessions."""
    if requests.size == 0:
        return None
    needed = math.ceil(share / 100 * requests.size)
    return int(np.sort(requests)[needed - 1])


def _smallest_ttl(times: np.ndarray, share: float) -> int | None:
    """Smallest whole-second T with time to end < T for at least `share` % of the sessions."""
    if times.size == 0:
        return None
    needed = math.ceil(share / 100 * times.size)
    return math.floor(float(np.sort(times)[needed - 1])) + 1


def avoidance_thresholds(frame: pd.DataFrame, workflow: str | None = None) -> dict:
    """The smallest limit and TTL that would have avoided 50 / 90 / 99 % of the judgeable cancellations.

    `{"limit": {"p50": 33, "p90": 36, "p99": 40}, "ttl_s": {...}, "rate_limited_evaluable": n,
    "ttl_evaluable": m}`; a value is None when no session of that kind can be judged.
    """
    rows = _scope(frame, workflow)
    _, requests = _rate_requests(rows)
    _, times = _ttl_times(rows)
    return {
        "limit": {f"p{p}": _smallest_limit(requests, p) for p in THRESHOLD_SHARES},
        "ttl_s": {f"p{p}": _smallest_ttl(times, p) for p in THRESHOLD_SHARES},
        "rate_limited_evaluable": int(requests.size),
        "ttl_evaluable": int(times.size),
    }


def _whose(setting: str, label: str, unnamed: bool) -> str:
    return f"the {setting} of sessions without a workflow id" if unnamed else f"{label}'s {setting}"


def _typical(values: pd.Series, keys: pd.Series) -> dict[str, int]:
    """Per key, the most common value (the smallest on a tie): a workflow's configured limit or TTL.

    One count over all rows instead of one per workflow; keys whose values are all missing are absent.
    """
    known = values.notna().to_numpy(dtype=bool)
    counts = (
        pd.DataFrame({"key": keys[known], "value": values[known].astype("int64")})
        .groupby(["key", "value"], sort=False)
        .size()
        .rename("n")
        .reset_index()
    )
    top = counts.sort_values(["key", "n", "value"], ascending=[True, False, True]).drop_duplicates("key")
    return {str(k): int(v) for k, v in zip(top["key"], top["value"], strict=True)}


def _by_key(
    frame: pd.DataFrame, keys: pd.Series, category: Category, column: str, dtype: str
) -> dict[str, tuple[int, np.ndarray]]:
    """`_of_category` for every key at once: (sessions of `category`, known values of `column`)."""
    mask = (frame["category"] == category).to_numpy(dtype=bool)
    rows = pd.DataFrame({"key": keys[mask], "value": frame[column][mask]})
    return {
        str(name): (len(group), group["value"].dropna().to_numpy(dtype=dtype))
        for name, group in rows.groupby("key", sort=False)
    }


def prevention_quotes(frame: pd.DataFrame, workflow: str | None = None) -> list[str]:
    """Advice sentences with the numbers behind them, most cancellations avoided first.

    One per workflow with judgeable rate-limit cancellations and one per workflow with judgeable TTL
    expiries, each proposing the smallest value that avoids at least 90 % of them (only where that is
    above the workflow's most common current value). A TTL expiry lasted exactly its TTL, so any longer
    TTL "avoids" it: read those quotes as "how much longer sessions lived than allowed".
    """
    rows = _scope(frame, workflow)
    keys = rows["workflow_id"].astype("string").fillna(MISSING_LABEL)
    # Counted per workflow in a few passes over the rows; the loop only reads the small results.
    rated = _by_key(rows, keys, Category.rate_limited, "requests", "int64")
    timed = _by_key(rows, keys, Category.ttl_expired, "time_to_end_s", "float64")
    limits, ttls = _typical(rows["rate_limit"], keys), _typical(rows["ttl_s"], keys)
    nothing = (0, np.array([]))
    quotes: list[tuple[int, str, str]] = []
    for label in sorted(rated.keys() | timed.keys()):
        unnamed = label == MISSING_LABEL
        rate_total, requests = rated.get(label, nothing)
        proposed = _smallest_limit(requests, QUOTE_SHARE)
        current = limits.get(label)
        if proposed is not None and (current is None or proposed > current):
            avoided = int((requests <= proposed).sum())
            change = f"from {current} to {proposed}" if current is not None else f"to {proposed}"
            quotes.append(
                (
                    avoided,
                    label,
                    f"raising {_whose('limit', label, unnamed)} {change} would have avoided {avoided} of {rate_total} "
                    "rate-limit cancellations in this data set",
                )
            )
        ttl_total, times = timed.get(label, nothing)
        proposed_ttl = _smallest_ttl(times, QUOTE_SHARE)
        current_ttl = ttls.get(label)
        if proposed_ttl is not None and (current_ttl is None or proposed_ttl > current_ttl):
            avoided = int((times < proposed_ttl).sum())
            change = (
                f"from {current_ttl} s to {proposed_ttl} s"
                if current_ttl is not None
                else f"to {proposed_ttl} s"
            )
            quotes.append(
                (
                    avoided,
                    label,
                    f"raising {_whose('TTL', label, unnamed)} {change} would have avoided {avoided} of {ttl_total} "
                    "TTL expiries in this data set"
                    + (
                        f" (above the API's documented maximum of {API_TTL_RANGE_S[1]} s)"
                        if proposed_ttl > API_TTL_RANGE_S[1]
                        else ""
                    ),
                )
            )
    quotes.sort(key=lambda q: (-q[0], q[1]))
    return [text for _, _, text in quotes]
