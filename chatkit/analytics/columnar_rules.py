"""The diagnosis rules over columns: `diagnose` (chatkit.domain.rules) for a whole table at once.

A million sessions cannot each become a pydantic object and walk `diagnose` one by one (issue 9), so the
same rules run here as one array expression per rule of the README's "How it decides" table, over a
columnar table of normalized session fields (`chatkit.session_table.SESSION_SCHEMA`). The row-wise `diagnose` stays the
reference: tests/analytics/test_columnar_rules.py asserts on thousands of random (and hostile) sessions
that both give the same category, severity, confidence, flags, evidence, missing fields and numbers.

Exactness, not approximation, is the contract, so a few things are done with care:
- Numbers follow Python's arithmetic: counts are at most 2**53 - 1 (`MAX_COUNT`) and spans at most a
  century of microseconds, so int64 -> float64 is exact and each ratio is the same correctly rounded
  division Python performs. Text follows Python's `format`: "%.0f" is `rint` (ties to even, as
  `format` rounds the exact binary value); "%.1f" of a time is decided on the integer microseconds,
  except an exact half-tenth, which is formatted by Python (the binary value decides it).
- The reason's text is classified, stripped and quoted once per distinct reason (dictionary
  encoding), with the reference's own classifier and `repr`: reasons repeat across sessions, and a
  vectorized `repr` or Unicode `strip` would be a second implementation to drift.
- Flags and missing fields are sets in a fixed order, so each row's combination is a bit mask looked
  up in a table of every combination's list (and of the evidence sentence that names them).
- Evidence is most of the cost, and only a session's own page needs it: `evidence=False` skips it.
  Its text column uses 32-bit offsets (2 GB of text, ~5 million sessions): callers pass chunks.

One module past 500 lines on purpose: it is `rules.diagnose` restated, rule for rule and sentence for
sentence, and a change to either must be read against the whole of the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from chatkit.domain.models import Category, ChatKitSession, Severity
from chatkit.domain.rules import (
    _REASON_QUOTE_MAX,
    CRITICAL_TTL_S,
    CRITICAL_UTILIZATION,
    NEAR_LIMIT_UTILIZATION,
    _classify_reason,  # the reference's own classifier: one definition of the reason's words
)
from chatkit.session_table import SESSION_SCHEMA

CATEGORIES = [c.value for c in Category]
SEVERITIES = [s.value for s in Severity]
_TEXTS = pa.list_(pa.string())

# What `diagnose_columns` returns: the fields of `Diagnosis`, one column each, in the table's row order.
DIAGNOSIS_SCHEMA = pa.schema(
    [
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("category", pa.dictionary(pa.int8(), pa.string())),
        pa.field("severity", pa.dictionary(pa.int8(), pa.string())),
        pa.field("confidence", pa.float64(), nullable=False),
        pa.field("evidence", _TEXTS, nullable=False),
        pa.field("missing_fields", _TEXTS, nullable=False),
        pa.field("flags", _TEXTS, nullable=False),
        pa.field("utilization", pa.float64()),
        pa.field("overage", pa.int64()),
        pa.field("time_to_end_s", pa.float64()),
        pa.field("ttl_s", pa.int64()),
    ]
)


_WITHOUT_EVIDENCE = DIAGNOSIS_SCHEMA.remove(DIAGNOSIS_SCHEMA.get_field_index("evidence"))


def session_columns(sessions: Sequence[ChatKitSession]) -> pa.Table:
    """The `SESSION_SCHEMA` table of validated sessions (the bridge from today's row-wise import)."""
    cols: dict[str, list] = {name: [] for name in SESSION_SCHEMA.names}
    for s in sessions:
        wf = s.workflow
        cols["id"].append(s.id)
        cols["status"].append(s.status)
        cols["workflow_id"].append(wf.id if wf else None)
        cols["workflow_version"].append(wf.version if wf else None)
        cols["customer_id"].append(s.customer_id)
        cols["rate_limit"].append(s.rate_limit)
        cols["requests"].append(s.current_requests)
        cols["ttl_seconds"].append(s.ttl_seconds)
        cols["created_at"].append(s.created_at)
        cols["expires_at"].append(s.expires_at)
        cols["cancelled_at"].append(s.cancelled_at)
        cols["reason"].append(s.reason)
    return pa.table(cols, schema=SESSION_SCHEMA)


# Flags in the order `diagnose` appends them (at most one of conflict / missing).
FLAG_ORDER = (
    "limit_is_zero",
    "ended_before_created",
    "status_conflict",
    "status_missing",
    "reason_contradicts_numbers",
    "limit_and_ttl_exceeded",
)
# Missing fields in the order `diagnose` lists them (expires_at / cancelled_at never both).
MISSING_ORDER = (
    "status",
    "current_requests",
    "max_requests_per_1_minute",
    "created_at",
    "expires_at",
    "cancelled_at",
    "ttl_seconds",
    "reason",
)
_FLAG = {name: np.int64(1 << i) for i, name in enumerate(FLAG_ORDER)}
_MISS = {name: np.int64(1 << i) for i, name in enumerate(MISSING_ORDER)}


def _subset(order: Sequence[str], mask: int) -> list[str]:
    return [name for i, name in enumerate(order) if mask >> i & 1]


_FLAG_LISTS = pa.array([_subset(FLAG_ORDER, m) for m in range(1 << len(FLAG_ORDER))], type=_TEXTS)
_MISSING_LISTS = pa.array([_subset(MISSING_ORDER, m) for m in range(1 << len(MISSING_ORDER))], type=_TEXTS)


def _rate_alone(fields: list[str]) -> str:
    return f"rate limit taken from the reason alone; {' and '.join(fields)} would confirm it"


def _ttl_alone(fields: list[str]) -> str:
    confirm = f"; {' and '.join(fields)} would confirm it" if fields else ""
    return f"expiry taken from the reason alone{confirm}"


def _cannot_decide(fields: list[str]) -> str:
    if fields:
        return f"cannot decide the cause: {', '.join(fields)} missing"
    return "cannot decide the cause: within the limit, before the TTL, and the reason names no cause"


# The last evidence line of a verdict: fixed sentences, then one per missing-field mask for rules 5, 6, 8.
_TAIL_FIXED = [
    "the limit was exceeded too, but the API reports the session as expired",
    "both the limit and the TTL were exceeded; the reason names the TTL",
    "both the limit and the TTL were exceeded; the reason names the rate limit",
    "both the limit and the TTL were exceeded; counted as rate-limited",
    "within the limit and before the TTL: nothing but a person ended it",
]
_MASKS = range(1 << len(MISSING_ORDER))
_TAIL_R5 = len(_TAIL_FIXED)
_TAIL_R6 = _TAIL_R5 + len(_MASKS)
_TAIL_R8 = _TAIL_R6 + len(_MASKS)
_TAILS = pa.array(
    _TAIL_FIXED
    + [_rate_alone(_subset(MISSING_ORDER, m)) for m in _MASKS]
    + [_ttl_alone(_subset(MISSING_ORDER, m)) for m in _MASKS]
    + [_cannot_decide(_subset(MISSING_ORDER, m)) for m in _MASKS]
)
_PREFIXES = pa.array(
    [
        "status is active",
        "status is expired: the session reached its TTL",
        "status says active but cancelled_at is set: treated as cancelled",
        "status is missing",
    ]
)
_MANUAL_CONTRADICTED = pa.array(
    [
        "the reason reads as a manual cancellation, but the status is expired: the numbers win",
        "the reason reads as a manual cancellation, but the numbers show the limit or TTL exceeded: "
        "the numbers win",
    ]
)

# Rules in the table's order; the first whose condition holds decides (np.select).
_R1, _R2, _R34, _R3, _R4, _R5, _R6, _R7, _R8 = range(9)


def diagnose_columns(table: pa.Table, *, evidence: bool = True) -> pa.Table:
    """`diagnose` of every row of a `SESSION_SCHEMA` table, as a `DIAGNOSIS_SCHEMA` table (same order).

    `evidence=False` leaves out the evidence column, most of the cost: the facts table and every
    aggregate need only the verdicts and numbers; a session's evidence is read when it is shown.
    """
    n = table.num_rows
    col = {name: _one_chunk(table.column(name)) for name in SESSION_SCHEMA.names}

    # ---- the facts every rule reads ------------------------------------------------------------
    status = col["status"]
    active = _true(pc.equal(status, "active"))
    expired = _true(pc.equal(status, "expired"))
    no_status = _isnull(status)
    limit, has_limit = _ints(col["rate_limit"])
    requests, has_requests = _ints(col["requests"])
    ttl_given, has_ttl_given = _ints(col["ttl_seconds"])
    created, has_created = _ints(col["created_at"])
    expires, has_expires = _ints(col["expires_at"])
    cancelled, has_cancelled = _ints(col["cancelled_at"])

    # ChatKitSession.ttl: ttl_seconds, else expires_at - created_at in whole seconds (round: ties to even).
    lifetime = np.maximum(0, np.rint((expires - created) / 1e6)).astype(np.int64)
    has_ttl = has_ttl_given | (has_expires & has_created)
    ttl = np.where(has_ttl_given, ttl_given, np.where(has_ttl, lifetime, 0))
    # ChatKitSession.ended_at: cancelled_at, else expires_at when the status is expired.
    has_ended = has_cancelled | (expired & has_expires)
    ended = np.where(has_cancelled, cancelled, np.where(has_ended, expires, 0))

    rate, ttl_word, manual, has_reason, quoted = _reasons(col["reason"], n)

    # Requests vs limit.
    counted = has_limit & has_requests
    over = counted & (requests > limit)
    within = counted & ~over
    limit_zero = counted & (limit == 0)
    has_util = counted & ~limit_zero
    utilization = np.divide(requests, limit, out=np.zeros(n), where=has_util)
    overage = np.maximum(0, requests - limit)

    # Time to end vs TTL.
    timed = has_created & has_ended
    span_us = ended - created
    before_created = timed & (span_us < 0)
    has_tte = timed & ~before_created
    time_to_end = np.where(has_tte, span_us / 1e6, 0.0)
    has_past = has_tte & has_ttl
    past = has_past & (time_to_end >= ttl)
    before_ttl = has_past & ~past

    # ---- adjustments before the rules: conflict, missing status, contradictions ------------------
    rule1 = active & ~has_cancelled
    judged = ~rule1
    conflict = active & has_cancelled
    status_missing = no_status & ~has_cancelled
    said_rate = judged & rate & within
    said_ttl = judged & ttl_word & before_ttl & ~expired
    said_manual = judged & manual & (over | past | expired)
    contradicted = said_rate | said_ttl | said_manual

    rule = np.select(
        [rule1, expired, over & past, over, past, rate & ~counted, ttl_word & ~has_past, manual],
        [_R1, _R2, _R34, _R3, _R4, _R5, _R6, _R7],
        default=_R8,
    )
    is_ = [rule == r for r in range(9)]
    both_exceeded = (is_[_R2] & over) | is_[_R34]
    r34_ttl = is_[_R34] & ttl_word & ~rate

    # ---- category, severity, confidence -----------------------------------------------------------
    c = {name: CATEGORIES.index(name) for name in CATEGORIES}
    s = {name: SEVERITIES.index(name) for name in SEVERITIES}
    ttl_decides = is_[_R2] | r34_ttl | is_[_R4] | is_[_R6]
    rate_decides = (is_[_R34] & ~r34_ttl) | is_[_R3] | is_[_R5]
    category = np.select(
        [is_[_R1], ttl_decides, rate_decides, is_[_R7]],
        [c["active"], c["ttl_expired"], c["rate_limited"], c["cancelled_manually"]],
        default=c["undetermined"],
    ).astype(np.int8)

    near = rule1 & has_util & (utilization >= NEAR_LIMIT_UTILIZATION)
    ttl_critical = has_ttl & (ttl < CRITICAL_TTL_S)
    rate_critical = (limit_zero & (requests != 0)) | (has_util & (utilization >= CRITICAL_UTILIZATION))
    severity = np.select(
        [
            is_[_R1] & near,
            ttl_decides,
            (is_[_R34] & ~r34_ttl) | is_[_R3],
            is_[_R8] & contradicted,
        ],
        [
            s["warning"],
            np.where(ttl_critical, s["critical"], s["warning"]),
            np.where(rate_critical, s["critical"], s["warning"]),
            s["warning"],
        ],
        default=np.where(is_[_R5], s["warning"], s["info"]),
    ).astype(np.int8)

    confidence = np.select(
        [
            is_[_R1],
            is_[_R2],
            r34_ttl,
            is_[_R34] | is_[_R3],
            is_[_R4],
            is_[_R5] | is_[_R6],
            is_[_R7],
        ],
        [
            1.0,
            np.where(past | ttl_word, 0.95, 0.85),
            0.95,
            np.where(rate, 0.95, 0.85),
            np.where(ttl_word, 0.95, 0.85),
            0.6,
            np.where(within & before_ttl, 0.9, 0.7),
        ],
        default=0.3,
    )
    # The penalties, one after another as `diagnose` subtracts them (same floats), never on undetermined.
    penalized = ~is_[_R8]
    confidence = np.where(penalized & contradicted, confidence - 0.3, confidence)
    confidence = np.where(penalized & both_exceeded, confidence - 0.2, confidence)
    confidence = np.where(penalized & status_missing & judged, confidence - 0.1, confidence)
    confidence = _round2(np.minimum(1.0, np.maximum(0.05, confidence)))

    # ---- flags and missing fields: bit masks into tables of every combination ----------------------
    flag_bits = (
        np.where(limit_zero, _FLAG["limit_is_zero"], 0)
        | np.where(before_created, _FLAG["ended_before_created"], 0)
        | np.where(judged & conflict, _FLAG["status_conflict"], 0)
        | np.where(judged & status_missing, _FLAG["status_missing"], 0)
        | np.where(contradicted, _FLAG["reason_contradicts_numbers"], 0)
        | np.where(both_exceeded, _FLAG["limit_and_ttl_exceeded"], 0)
    )
    rate_missing = np.where(has_requests, 0, _MISS["current_requests"]) | np.where(
        has_limit, 0, _MISS["max_requests_per_1_minute"]
    )
    ttl_missing = (
        np.where(has_created, 0, _MISS["created_at"])
        | np.where(has_ended, 0, np.where(expired, _MISS["expires_at"], _MISS["cancelled_at"]))
        | np.where(has_ttl, 0, _MISS["ttl_seconds"])
    )
    undecided_missing = (
        np.where(status_missing, _MISS["status"], 0)
        | np.where(counted, 0, rate_missing)
        | np.where(has_past, 0, ttl_missing)
        | np.where(has_reason, 0, _MISS["reason"])
    )
    missing_bits = np.select(
        [is_[_R5], is_[_R6], is_[_R8]], [rate_missing, ttl_missing, undecided_missing], default=0
    )

    # ---- evidence: the lines in `diagnose`'s order; a row keeps the ones that apply to it ---------
    columns: dict[str, pa.Array] = {}
    if evidence:
        # Each line is built only for the rows it applies to (rows: their indexes, in order); a line with
        # variants is one entry per variant, adjacent, since a row has at most one of them.
        lines: list[tuple[np.ndarray, pa.Array]] = []

        def line(mask: np.ndarray, build: Callable[[np.ndarray], pa.Array]) -> None:
            rows = np.flatnonzero(mask)
            lines.append((mask, build(rows) if rows.size else pa.array([], pa.string())))

        def text(texts: pa.Array, codes: np.ndarray) -> Callable[[np.ndarray], pa.Array]:
            return lambda rows: texts.take(pa.array(codes[rows]))

        def num(values: np.ndarray) -> Callable[[np.ndarray], pa.Array]:
            return lambda rows: _int_text(values[rows])

        prefix = np.select(
            [rule1, is_[_R2], judged & conflict, judged & status_missing], [0, 1, 2, 3], default=-1
        )
        line(prefix >= 0, text(_PREFIXES, prefix))
        zero_line = " requests vs limit 0: the limit is 0, so utilization is undefined"
        line(limit_zero & (requests == 0), lambda r: _join(_int_text(requests[r]), zero_line))
        line(
            limit_zero & (requests != 0),
            lambda r: _join(
                t := _int_text(requests[r]), zero_line, " and every request exceeds it (", t, " over)"
            ),
        )
        for side, mask in (
            ("over", has_util & over),
            ("at", has_util & (requests == limit)),
            ("under", has_util & (requests < limit)),
        ):

            def limit_line(r: np.ndarray, side: str = side) -> pa.Array:
                head = [
                    _int_text(requests[r]),
                    " requests vs limit ",
                    _int_text(limit[r]),
                    ": ",
                    _pct_text(utilization[r]),
                    " of the limit (",
                ]
                if side == "over":
                    return _join(*head, _int_text(requests[r] - limit[r]), " over)")
                if side == "under":
                    return _join(*head, _int_text(limit[r] - requests[r]), " under)")
                return _join(*head, "at the limit, not over)")

            line(mask, limit_line)
        line(
            before_created,
            lambda r: _join("ended ", _seconds_text(-span_us[r]), " s before creation: timing ignored"),
        )
        verb = pa.array(["cancelled", "expired"])
        verb_code = (expired & ~has_cancelled).astype(np.int8)

        def after(r: np.ndarray) -> list[pa.Array | str]:
            return [
                verb.take(pa.array(verb_code[r])),
                " ",
                _seconds_text(span_us[r]),
                " s after creation; TTL ",
            ]

        line(
            has_past & (ttl > 0),
            lambda r: _join(
                *after(r),
                _int_text(ttl[r]),
                " s (",
                _pct_text(time_to_end[r] / ttl[r]),
                " of TTL)",
            ),
        )
        line(has_past & (ttl <= 0), lambda r: _join(*after(r), _int_text(ttl[r]), " s"))
        line(has_tte & ~has_ttl, lambda r: _join(*after(r), "unknown"))
        line(
            ~has_tte & has_ttl & ~active,
            lambda r: _join("TTL ", _int_text(ttl[r]), " s; time to end unknown"),
        )
        line(has_reason, lambda r: quoted.dictionary.take(quoted.indices.take(pa.array(r))))
        line(
            said_rate,
            lambda r: _join(
                "the reason says rate limit, but ",
                _int_text(requests[r]),
                " requests do not exceed the limit of ",
                _int_text(limit[r]),
                ": the numbers win, so this is not counted as rate-limited",
            ),
        )
        line(
            said_ttl,
            lambda r: _join(
                "the reason says expired/timeout, but it ended ",
                _seconds_text(span_us[r]),
                " s after creation, before its TTL of ",
                _int_text(ttl[r]),
                " s: the numbers win, so this is not counted as TTL-expired",
            ),
        )
        line(said_manual, text(_MANUAL_CONTRADICTED, np.where(expired, 0, 1)))
        line(
            near,
            lambda r: _join("at ", _pct_text(utilization[r]), " of its limit while active"),
        )
        tails = np.select(
            [
                is_[_R2] & over,
                r34_ttl,
                is_[_R34] & rate,
                is_[_R34],
                is_[_R7] & within & before_ttl,
                is_[_R5],
                is_[_R6],
                is_[_R8],
            ],
            [0, 1, 2, 3, 4, _TAIL_R5 + missing_bits, _TAIL_R6 + missing_bits, _TAIL_R8 + missing_bits],
            default=-1,
        )
        line(tails >= 0, text(_TAILS, tails))
        columns["evidence"] = _lists(lines, n)
    columns = {
        "session_id": col["id"],
        "category": pa.DictionaryArray.from_arrays(pa.array(category), pa.array(CATEGORIES)),
        "severity": pa.DictionaryArray.from_arrays(pa.array(severity), pa.array(SEVERITIES)),
        "confidence": pa.array(confidence),
        **columns,
        "missing_fields": _MISSING_LISTS.take(pa.array(missing_bits)),
        "flags": _FLAG_LISTS.take(pa.array(flag_bits)),
        "utilization": pa.array(utilization, mask=~has_util),
        "overage": pa.array(overage, mask=~counted),
        "time_to_end_s": pa.array(time_to_end, mask=~has_tte),
        "ttl_s": pa.array(ttl, mask=~has_ttl),
    }
    schema = DIAGNOSIS_SCHEMA if evidence else _WITHOUT_EVIDENCE
    return pa.Table.from_arrays(list(columns.values()), schema=schema)


# ---------------------------------------------------------------------------------------------------
# Column helpers


def _one_chunk(column: pa.ChunkedArray) -> pa.Array:
    # combine_chunks copies even a single chunk: a reader's table usually has one per column.
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _true(values: pa.Array) -> np.ndarray:
    """A boolean array as numpy, null counted as False."""
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def _isnull(values: pa.Array) -> np.ndarray:
    return pc.is_null(values).to_numpy(zero_copy_only=False)


def _ints(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values with 0 where null, known mask); timestamps as microseconds since the epoch."""
    ints = values.cast(pa.int64()) if pa.types.is_timestamp(values.type) else values
    return pc.fill_null(ints, 0).to_numpy(zero_copy_only=False).astype(np.int64), ~_isnull(values)


def _reasons(
    reason: pa.Array, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pa.DictionaryArray]:
    """Per row: says rate limit, says TTL, says manual, has a reason, and its evidence line (or null).

    Classified, stripped and quoted once per distinct text, as `diagnose` does with its cache.
    """
    encoded = pc.dictionary_encode(reason)
    kinds: list[tuple[bool, bool, bool, bool]] = []
    lines: list[str | None] = []
    for text in encoded.dictionary.to_pylist():
        stripped = text.strip()
        if not stripped:
            kinds.append((False, False, False, False))
            lines.append(None)
            continue
        kind = _classify_reason(stripped)
        kinds.append((kind.rate, kind.ttl, kind.manual, True))
        cut = stripped if len(stripped) <= _REASON_QUOTE_MAX else stripped[:_REASON_QUOTE_MAX] + "…"
        lines.append(f"reason: {cut!r}")
    table = np.array(kinds, dtype=bool).reshape(-1, 4)
    known = ~_isnull(encoded.indices)
    index = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
    per_row = table[index] & known[:, None] if len(table) else np.zeros((n, 4), dtype=bool)
    # The lines per distinct reason and each row's index into them: taken only when evidence is asked for.
    quoted = pa.DictionaryArray.from_arrays(encoded.indices, pa.array(lines, type=pa.string()))
    return per_row[:, 0], per_row[:, 1], per_row[:, 2], per_row[:, 3], quoted


def _round2(values: np.ndarray) -> np.ndarray:
    """Python's round(x, 2) (correctly rounded decimal), once per distinct value: there are few.

    Not np.round, which scales by 100 first and can land on the other side of a half.
    """
    where, distinct = pd.factorize(values)  # hashing: no sort of a million values
    return np.array([round(float(v), 2) for v in distinct], dtype=np.float64)[where]


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; a null part makes the row null."""
    return pc.binary_join_element_wise(*parts, "")


def _int_text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values, type=pa.int64()), pa.string())


def _pct_text(ratio: np.ndarray) -> pa.Array:
    """f"{ratio * 100:.0f} %": rint is format's rounding of the exact double (ties to even)."""
    whole = np.rint(ratio * 100).astype(np.int64)
    return _join(_int_text(whole), " %")


def _seconds_text(micros: np.ndarray) -> pa.Array:
    """`_num(micros / 1e6)` of rules.py: "12" for whole seconds, else one decimal ("0.1", "1.0").

    Decided on the integer microseconds: a span is at most a century, so the double's error (< 2.4e-7 s)
    never crosses a rounding boundary one microsecond away. An exact half-tenth depends on which side
    of it the double falls, so those few are formatted by Python itself.
    """
    whole = micros % 1_000_000 == 0
    tenths, rest = np.divmod(micros, 100_000)
    tenths = tenths + (rest > 50_000)
    text = pc.if_else(
        pa.array(whole),
        _int_text(micros // 1_000_000),
        _join(_int_text(tenths // 10), ".", _int_text(tenths % 10)),
    )
    tie = ~whole & (rest == 50_000)
    if tie.any():
        rows = np.flatnonzero(tie)
        exact = pa.array([f"{v:.1f}" for v in (micros[rows] / 1e6).tolist()])
        text = pc.replace_with_mask(text, pa.array(tie), exact)
    return text


def _lists(lines: Sequence[tuple[np.ndarray, pa.Array]], n: int) -> pa.ListArray:
    """Per row, its lines in order, as a list column; each line gives its rows' mask and their texts."""
    present = np.stack([mask for mask, _ in lines], axis=1)  # rows x lines
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    rows, which = np.nonzero(present)  # row-major: each row's lines in order
    # Where each (row, line) text sits in the concatenation of the lines' compact arrays.
    rank = np.cumsum(present, axis=0, dtype=np.int32)[rows, which] - 1
    start = np.zeros(len(lines), dtype=np.int64)
    np.cumsum([len(texts) for _, texts in lines[:-1]], out=start[1:])
    values = pa.concat_arrays([texts.cast(pa.string()) for _, texts in lines])
    return pa.ListArray.from_arrays(pa.array(offsets), values.take(pa.array(start[which] + rank)))


__all__ = [
    "CATEGORIES",
    "DIAGNOSIS_SCHEMA",
    "FLAG_ORDER",
    "MISSING_ORDER",
    "SESSION_SCHEMA",
    "SEVERITIES",
    "diagnose_columns",
    "session_columns",
]
