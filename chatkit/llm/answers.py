"""Reading the model's answer: strict JSON, fenced JSON, or the first balanced object in prose.

Small models wrap JSON in fences, add prose around it, or bend the schema a little ('Rate Limited',
'80%'); `parse_report` forgives that and says what was wrong when it cannot. A schema-constrained
answer (json_schema mode) still passes through here: it is the one place an answer becomes a report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import json5
from pydantic import ValidationError

from chatkit.domain.models import ReportBody

__all__ = ["MAX_PARSE_CHARS", "parse_report"]

MAX_PARSE_CHARS = 100_000

# The language tag after an opening fence; matched at one position only, so it cannot backtrack
# across the body (the old single regex was cubic on "```" plus spaces).
_FENCE_TAG = re.compile(r"[ \t]*+(?:json5?|JSON)?[ \t]*+\n?")


def _fenced(text: str) -> Iterable[str]:
    """The body of each ```-fenced block, pairing fences left to right: one pass of str.find."""
    position = 0
    while (opening := text.find("```", position)) != -1:
        tag = _FENCE_TAG.match(text, opening + 3)
        body = tag.end() if tag else opening + 3
        closing = text.find("```", body)
        if closing == -1:
            return
        yield text[body:closing]
        position = closing + 3


def _balanced_objects(text: str, limit: int = 20) -> Iterable[str]:
    """Each top-level `{...}` in `text`, string- and escape-aware (prose around JSON is common)."""
    start = text.find("{")
    tried = 0
    while start != -1 and tried < limit:
        tried += 1
        depth, in_string, escaped = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    yield text[start : i + 1]
                    break
        start = text.find("{", start + 1)


def _loads(candidate: str) -> Any:
    try:
        return json.loads(candidate)
    except ValueError:
        pass
    try:
        return json5.loads(candidate)  # trailing commas, single quotes, comments
    except (ValueError, RecursionError):
        return None


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    """Forgive the usual small deviations: 'Rate Limited', '80%', a step list given as one string."""
    data = dict(data.get("report", data)) if isinstance(data.get("report"), dict) else dict(data)
    root = data.get("root_cause")
    if isinstance(root, dict):
        root = dict(root)
        if isinstance(root.get("category"), str):
            root["category"] = re.sub(r"[\s-]+", "_", root["category"].strip().lower())
        if isinstance(root.get("evidence"), str):
            root["evidence"] = [root["evidence"]]
        data["root_cause"] = root
    for key in ("recovery_steps", "prevention"):
        if isinstance(data.get(key), str):
            data[key] = [data[key]]
    if isinstance(data.get("severity"), str):
        data["severity"] = data["severity"].strip().lower()
    confidence = data.get("confidence")
    if isinstance(confidence, str):
        try:
            confidence = float(confidence.strip().rstrip("%")) / (100 if "%" in confidence else 1)
        except ValueError:
            confidence = None
    if isinstance(confidence, (int, float)) and 1 < confidence <= 100:
        confidence = confidence / 100
    data["confidence"] = confidence
    return data


def parse_report(text: str) -> tuple[ReportBody | None, str]:
    """The report in `text`, or None and why not. Tries strict JSON, fences, then prose."""
    text = (text or "").strip()[:MAX_PARSE_CHARS]
    if not text:
        return None, "the answer was empty"
    candidates = [text, *(body.strip() for body in _fenced(text)), *_balanced_objects(text)]
    problem = "no JSON object found"
    for candidate in candidates:
        data = _loads(candidate)
        if not isinstance(data, dict):
            continue
        try:
            return ReportBody.model_validate(_normalise(data)), ""
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(root)" for e in exc.errors()[:5])
            problem = f"JSON found but invalid at: {fields}"
    return None, problem
