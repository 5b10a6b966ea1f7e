"""The report body as a strict JSON schema, for schema-constrained decoding (`response_format`).

Built from the pydantic model (`ReportBody`), so the schema and the validator cannot drift apart, then
made "strict" the way OpenAI and llama.cpp's server expect: every object closes
(`additionalProperties: false`) and lists every property as required; `$ref`s are inlined and
keywords that only document (`title`, `description`, `default`) are dropped. Length bounds are added
so that a small model cannot loop forever inside one string or list: the decoder stops it at the bound.
"""

from __future__ import annotations

import copy
from typing import Any

from chatkit.domain.models import ReportBody

SCHEMA_NAME = "chatkit_session_report"
# Bounds: generous for a real report (the offline report's longest text is ~250 characters), short
# enough that a runaway generation ends within seconds on a CPU.
MAX_TEXT_CHARS = 600
MAX_ITEM_CHARS = 300
MAX_ITEMS = 8

_DROP = {"title", "description", "default", "examples"}
# Per-property bounds; lists name the bound of their items.
_TEXT_BOUNDS = {"summary": MAX_TEXT_CHARS, "impact": MAX_TEXT_CHARS}
_LIST_BOUNDS = {"evidence": (0, MAX_ITEMS), "recovery_steps": (1, MAX_ITEMS), "prevention": (1, MAX_ITEMS)}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _inline(copy.deepcopy(defs[name]), defs)
        return {k: _inline(v, defs) for k, v in node.items() if k not in _DROP and k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _strict(node: Any, name: str = "") -> Any:
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k != "properties"}
    if node.get("type") == "object" or "properties" in node:
        props = {key: _strict(value, key) for key, value in node.get("properties", {}).items()}
        out.update(type="object", properties=props, required=list(props), additionalProperties=False)
    if node.get("type") == "string" and "enum" not in node:
        out["maxLength"] = _TEXT_BOUNDS.get(name, MAX_ITEM_CHARS)
    if node.get("type") == "array":
        low, high = _LIST_BOUNDS.get(name, (0, MAX_ITEMS))
        out.update(minItems=low, maxItems=high)
        out["items"] = {**out.get("items", {}), "maxLength": MAX_ITEM_CHARS}
    return out


def report_schema() -> dict[str, Any]:
    """The strict JSON schema of `ReportBody`."""
    raw = ReportBody.model_json_schema()
    return _strict(_inline(raw, raw.get("$defs", {})))


def report_response_format() -> dict[str, Any]:
    """`response_format` for chat completions: the report schema, strict."""
    return {
        "type": "json_schema",
        "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": report_schema()},
    }
