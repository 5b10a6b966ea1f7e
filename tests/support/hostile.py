"""The hostile-text corpus (tests/fixtures/hostile_text.json), pointed at a listener's port.

Unit tests render every entry through every sink; browser tests put the entries into session fields
and LLM answers and count the requests that reach a listener on 127.0.0.1:`port`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from support import FIXTURES

PLACEHOLDER = "PORT_PLACEHOLDER"


@dataclass(frozen=True)
class Hostile:
    name: str
    text: str
    visible: tuple[str, ...]  # what a reader must still see, in every sink
    pseudonyms: dict[str, str] = field(default_factory=dict)  # pseudonym -> real value
    csv_formula: bool = False  # a spreadsheet would run it


def hostile_corpus(port: int | str = 9) -> list[Hostile]:
    """Every entry, its marker host at 127.0.0.1:`port` (9, discard, when nothing listens)."""
    document: dict[str, Any] = json.loads((FIXTURES / "hostile_text.json").read_text())
    entries = []
    for raw in document["entries"]:
        text = raw["text"] * raw.get("repeat", 1) + raw.get("suffix", "")
        entries.append(
            Hostile(
                name=raw["name"],
                text=text.replace(PLACEHOLDER, str(port)),
                visible=tuple(v.replace(PLACEHOLDER, str(port)) for v in raw.get("visible", ())),
                pseudonyms=dict(raw.get("pseudonyms", {})),
                csv_formula=bool(raw.get("csv_formula", False)),
            )
        )
    return entries


def marker(port: int | str = 9) -> str:
    """The marker URL prefix the corpus points at."""
    document = json.loads((FIXTURES / "hostile_text.json").read_text())
    return str(document["marker"]).replace(PLACEHOLDER, str(port))
