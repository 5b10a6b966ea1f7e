"""The summary read from a data set's columns (`summarize_dataset`) equals `summarize` over its sessions."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from support import FIXTURES

from chatkit.domain.models import Severity, SummaryReport
from chatkit.domain.rules import diagnose
from chatkit.domain.sample import sample_records
from chatkit.ingest import import_paths
from chatkit.ingest.table_import import TableImport
from chatkit.llm.prompts import aggregates, representative
from chatkit.llm.provider import OpenAICompatibleProvider
from chatkit.llm.pseudonyms import dataset_key
from chatkit.reports.analyzer import ChatKitAnalyzer
from chatkit.reports.dataset import Dataset
from chatkit.settings import Settings

# Ids whose code point order differs from naive expectations: upper before lower, non-ASCII last.
ODD_IDS = ["Zeta", "alpha", "éclair", "日本", "a\u00a0b", "🙂", "a", "A", ""]


def offline() -> ChatKitAnalyzer:
    return ChatKitAnalyzer(Settings(_env_file=None, llm_provider="offline"))


def hostile(seed: int, n: int = 400) -> list[dict[str, Any]]:
    """Sample records, spoiled: missing or empty workflows and customers, odd ids, equal utilizations,
    offsets in timestamps and lifecycle pairs (a second record for an id)."""
    rng = random.Random(seed)
    records = sample_records(n, seed=seed)
    for index, record in enumerate(records):
        roll = rng.random()
        if roll < 0.1:
            record.pop("workflow", None)
        elif roll < 0.15:
            record["workflow"] = {"id": "", "version": "1"}
        if rng.random() < 0.1:
            record.pop("scope", None)
            record.pop("user", None)
        elif rng.random() < 0.05:
            record["scope"] = {"customer_id": ""}
        if rng.random() < 0.05:
            record["id"] = rng.choice(ODD_IDS) + f"-{index}"
        if rng.random() < 0.2:  # many equal utilizations: the examples' ties are decided by id
            record["current_requests"], record["max_requests_per_1_minute"] = 10, 10
        if rng.random() < 0.05 and isinstance(record.get("created_at"), str):
            record["created_at"] = record["created_at"].replace("Z", "+05:30")
    for record in rng.sample(records, k=n // 20):
        records.append({"id": record["id"], "object": "chatkit.session", "status": "cancelled"})
    return records


def write(folder: Path, records: list[dict[str, Any]], kind: str, name: str = "data") -> Path:
    path = folder / f"{name}.{kind}"
    if kind == "json":
        path.write_text(json.dumps({"object": "list", "data": records}))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def both(analyzer: ChatKitAnalyzer, result: TableImport, reports=None) -> tuple[SummaryReport, SummaryReport]:
    by_sessions = analyzer.summarize(result.sessions, reports)
    by_columns = analyzer.summarize_dataset(Dataset.of(result), reports)
    return by_sessions, by_columns


def assert_same(a: SummaryReport, b: SummaryReport) -> None:
    left, right = a.model_dump(exclude={"analyzed_at"}), b.model_dump(exclude={"analyzed_at"})
    for field in left:
        assert left[field] == right[field], field
    assert a.model_dump_json(exclude={"analyzed_at"}) == b.model_dump_json(exclude={"analyzed_at"})


def fixture_import() -> TableImport:
    paths = sorted(p for p in FIXTURES.iterdir() if p.suffix in {".json", ".jsonl", ".csv"})
    return import_paths(paths)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sample_and_hostile_data_sets_give_the_same_report_offline(tmp_path, seed):
    first = write(tmp_path, hostile(seed), "jsonl", "a")
    # A second file repeats some ids: sessions merged across files.
    second = write(tmp_path, hostile(seed)[:50] + sample_records(100, seed=seed + 10), "json", "b")
    result = import_paths([first, second])
    assert result.session_count > 400
    assert_same(*both(offline(), result))


def test_the_fixture_files_give_the_same_report_offline():
    result = fixture_import()
    assert result.session_count
    assert_same(*both(offline(), result))


def test_the_aggregates_and_examples_are_those_of_the_sessions(tmp_path):
    result = import_paths([write(tmp_path, hostile(4), "jsonl")])
    sessions = result.sessions
    diagnoses = [diagnose(s) for s in sessions]
    dataset = Dataset.of(result)
    assert dataset.aggregates() == aggregates(sessions, diagnoses)
    want = representative(sessions, diagnoses)
    got = dataset.representative()
    assert [(s.id, d) for s, d in got] == [(s.id, d) for s, d in want]
    assert [s for s, _ in got] == [s for s, _ in want]


def test_the_pseudonym_key_is_that_of_the_sessions(tmp_path):
    records = [{**r, "id": i} for r, i in zip(sample_records(len(ODD_IDS)), ODD_IDS, strict=True)]
    result = import_paths([write(tmp_path, records, "jsonl")])
    assert result.session_ids() == [i for i in ODD_IDS if i]  # the empty id is rejected
    secret = b"s" * 32
    assert Dataset.of(result).key(secret) == dataset_key(secret, result.sessions)


def test_an_empty_data_set_gives_the_same_report(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_same(*both(offline(), import_paths([empty])))


def test_the_llm_is_sent_the_same_prompt(tmp_path, fake_llm, llm_settings):
    result = import_paths([write(tmp_path, hostile(5), "jsonl")])
    reports = offline().analyze_batch(result.sessions[:40])  # their root causes become notes
    analyzer = ChatKitAnalyzer(
        llm_settings(), llm=OpenAICompatibleProvider.from_settings(llm_settings(), backoff_base_s=0.02)
    )
    assert_same(*both(analyzer, result, reports))
    by_sessions, by_columns = (_without_nonce(c.prompt_text) for c in fake_llm.completions)
    assert by_sessions == by_columns
    assert "analyst_notes" in by_columns and "representative_sessions" in by_columns


def test_only_the_sessions_the_prompt_shows_are_built(tmp_path, fake_llm, llm_settings):
    result = import_paths([write(tmp_path, hostile(7), "jsonl")])
    built: list[list[str]] = []

    def sessions_for(ids):
        built.append(sorted(ids))
        return result.sessions_for(ids)

    offline().summarize_dataset(Dataset(result.table, sessions_for))
    assert built == []
    ChatKitAnalyzer(llm_settings()).summarize_dataset(Dataset(result.table, sessions_for))
    examples, notes = built
    assert len(examples) == 5 and notes == []


def test_findings_are_the_diagnoses_at_or_above_a_severity(tmp_path):
    result = import_paths([write(tmp_path, hostile(6), "jsonl")])
    dataset = Dataset.of(result)
    want = [diagnose(s) for s in result.sessions if diagnose(s).severity == Severity.critical]
    rows = dataset.rows_at_or_above(Severity.critical)
    assert list(dataset.diagnoses(rows)) == [d.model_dump(mode="json") for d in want]
    assert len(dataset.rows_at_or_above(Severity.info)) == result.session_count


def _without_nonce(text: str) -> str:
    return re.sub(r"DATA-[0-9a-f]{16}", "DATA-nonce", text)
