"""The hostile-text corpus (tests/fixtures/hostile_text.json), pointed at a listener's port.

Unit tests render every entry through every sink; browser tests put the entries into session fields
and LLM answers and count the requests that reach a listener on 127.0.0.1:`port`.
"""

from __future__ import annotations

import json
import re
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


# ---- pages: a data set of hostile sessions, and what a rendered page would act on ---------------

# html=True: raw HTML our output let through would come out as a live tag here, so a test sees it.
_BROWSER_MD = None
# remark-gfm's autolink literals (Streamlit's Markdown runs it): bare URLs, www. and e-mail addresses.
_GFM_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.I)
_GFM_EMAIL = re.compile(r"(?<=[-.\w+])@[-\w]+(?:\.[-\w]+)+")
_TAG = re.compile(r"<[^>]*>")  # in rendered HTML text is escaped (&lt;): these are real tags
_LIVE = re.compile(
    r"^<(?:img|script|iframe|svg|object|embed|video|audio|source|link)\b|\s(?:href|src|on\w+)=", re.I
)


def live_markup(markdown: str) -> list[str]:
    """What a browser would act on if `markdown` went to st.markdown: live tags and link or image
    attributes in its HTML, and the bare URLs / e-mail addresses GFM would link in its plain text."""
    global _BROWSER_MD
    if _BROWSER_MD is None:
        from markdown_it import MarkdownIt

        _BROWSER_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    found = [tag for tag in _TAG.findall(_BROWSER_MD.render(markdown)) if _LIVE.search(tag)]
    for token in _BROWSER_MD.parse(markdown):
        if token.type != "inline":
            continue
        run: list[str] = []
        for child in [*(token.children or []), None]:
            if child is not None and child.type in ("text", "text_special", "softbreak"):
                run.append(" " if child.type == "softbreak" else child.content)
                continue
            text = "".join(run)
            found += [m.group() for m in _GFM_URL.finditer(text)] + [
                m.group() for m in _GFM_EMAIL.finditer(text)
            ]
            run = []
    return found


def hostile_records(port: int | str = 9) -> list[dict[str, Any]]:
    """One cancelled session per corpus entry, the entry in every field a page shows: reason, user,
    workflow id and version, customer id, state_variables (key and value), an unknown extra field.
    Odd sessions keep a plain id (so a link can open them); even ones carry the entry as their id."""
    records = []
    for i, entry in enumerate(hostile_corpus(port)):
        short = entry.text[:150]
        records.append(
            {
                "id": f"cksess_hostile_{i:02d}" if i % 2 else f"{short} #{i}",
                "object": "chatkit.session",
                "status": "cancelled",
                "created_at": 1712345000 + i * 60,
                "cancelled_at": 1712345600 + i * 60,
                "ttl_seconds": 900,
                "max_requests_per_1_minute": 30,
                "current_requests": 35 if i % 3 else 10,
                "reason": entry.text,
                "user": short,
                "workflow": {"id": short, "version": entry.text[:40]},
                "scope": {"customer_id": short},
                "state_variables": {short[:60] or "k": entry.text},
                "note_from_crm": entry.text,
            }
        )
    return records


def hostile_dataset_name(port: int | str = 9) -> str:
    return f"Incident ![status]({marker(port)}/name.png) [open]({marker(port)}/name) <img src={marker(port)}/n.png>"
