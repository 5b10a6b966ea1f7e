"""The strict JSON schema of the report: strict-mode rules, and agreement with the pydantic model."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from chatkit.domain.models import Category, ChatKitSession, ReportBody
from chatkit.domain.rules import diagnose
from chatkit.llm.schema import MAX_ITEMS, SCHEMA_NAME, report_response_format, report_schema
from chatkit.reports.analyzer import offline_body


def _objects(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append(node)
        for value in node.values():
            found += _objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _objects(value)
    return found


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def test_every_object_is_closed_and_requires_all_its_properties() -> None:
    objects = _objects(report_schema())
    assert len(objects) == 2  # the body and root_cause
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])


def test_no_refs_or_documentation_keywords() -> None:
    assert not _keys(report_schema()) & {"$ref", "$defs", "title", "default", "description"}


def test_the_enums_come_from_the_model() -> None:
    root = report_schema()["properties"]["root_cause"]["properties"]
    assert root["category"]["enum"] == [c.value for c in Category]
    assert report_schema()["properties"]["confidence"] == {"type": "number", "minimum": 0, "maximum": 1}


def test_response_format_shape() -> None:
    fmt = report_response_format()
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == SCHEMA_NAME and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"] == report_schema()


def test_an_offline_report_validates(seed_session: dict) -> None:
    session = ChatKitSession.model_validate(seed_session)
    body = offline_body(
        session, diagnose(session), ["raising the limit from 30 to 36 would have avoided 9 of 10"]
    )
    jsonschema.validate(json.loads(body.model_dump_json()), report_schema())


@pytest.mark.parametrize(
    "change",
    [
        # the 0.5B model's near misses from the issue: each must be impossible under the schema
        lambda d: d["root_cause"].pop("summary"),
        lambda d: d.update(confidence="0.85"),
        lambda d: d.update(extra_key="x"),
        lambda d: d["root_cause"].update(category="Rate Limited"),
        lambda d: d.update(prevention=[]),
        lambda d: d.update(recovery_steps=["step"] * (MAX_ITEMS + 1)),
        lambda d: d.update(impact="x" * 5000),
    ],
)
def test_near_misses_are_rejected(seed_session: dict, change: Any) -> None:
    session = ChatKitSession.model_validate(seed_session)
    data = json.loads(offline_body(session, diagnose(session)).model_dump_json())
    change(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, report_schema())


def test_the_schema_is_no_looser_than_the_model(seed_session: dict) -> None:
    # whatever the schema lets through, the pydantic model accepts
    session = ChatKitSession.model_validate(seed_session)
    data = json.loads(offline_body(session, diagnose(session)).model_dump_json())
    data["confidence"] = 1
    jsonschema.validate(data, report_schema())
    ReportBody.model_validate(data)


@pytest.fixture
def seed_session() -> dict:
    from pathlib import Path

    return json.loads((Path(__file__).parents[1] / "fixtures" / "seed_session.json").read_text())
