"""Plain-Python statistics shared by the facts frame and the LLM prompts: one percentile rule.

Pure functions over numbers, no pandas: `chatkit.llm.prompts` uses them without paying for pandas,
and `chatkit.analytics.frame` uses the same rule so a summary and a chart never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["DEFAULT_PERCENTILES", "percentile", "percentiles_of"]

DEFAULT_PERCENTILES: tuple[float, ...] = (50, 90, 95, 99)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on non-empty sorted values."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * pct / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def percentiles_of(
    values: Iterable[float], pcts: Sequence[float] = DEFAULT_PERCENTILES
) -> dict[str, float | None]:
    """`{"p50": 0.8, ...}`; every value None when there are no values."""
    ordered = sorted(values)
    return {f"p{p:g}": (percentile(ordered, p) if ordered else None) for p in pcts}
