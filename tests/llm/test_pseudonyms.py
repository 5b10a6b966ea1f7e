"""Restoring pseudonyms in a report: in plain text only, never in code or URLs (issue 8)."""

from __future__ import annotations

import pytest

from chatkit.domain.models import Category, ReportBody, RootCause, Severity
from chatkit.llm.pseudonyms import Pseudonymizer


def restored(text: str) -> tuple[str, str]:
    """`text` with `{p}` standing for the pseudonym of cust_456, restored as a report field; and the alias."""
    pseudo = Pseudonymizer(b"key")
    alias = pseudo.pseudonym("cust_456")
    assert alias is not None
    body = ReportBody(
        root_cause=RootCause(category=Category.rate_limited, summary=text.format(p=alias)),
        impact="-",
        recovery_steps=[],
        prevention=[],
        severity=Severity.info,
        confidence=0.5,
    )
    return pseudo.restore_body(body).root_cause.summary, alias


def test_plain_text_gets_the_real_id_back() -> None:
    assert (
        restored("Customer {p} was cut off; {p} again.")[0]
        == "Customer cust_456 was cut off; cust_456 again."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Run `grep {p} app.log` for {p}.", "Run `grep {p} app.log` for cust_456."),
        ("Look up ``{p}`` and {p}.", "Look up ``{p}`` and cust_456."),
        (
            "Customer {p}:\n\n```\nSELECT * FROM s WHERE c = '{p}'\n```\n",
            "Customer cust_456:\n\n```\nSELECT * FROM s WHERE c = '{p}'\n```\n",
        ),
        ("Customer {p}:\n\n    curl -d c={p} host\n", "Customer cust_456:\n\n    curl -d c={p} host\n"),
        ("[{p}'s page](http://127.0.0.1:9/c/{p})", "[cust_456's page](http://127.0.0.1:9/c/{p})"),
        (
            "![{p}](http://127.0.0.1:9/p.png?c={p}) then {p}",
            "![cust_456](http://127.0.0.1:9/p.png?c={p}) then cust_456",
        ),
        ("See <http://127.0.0.1:9/c/{p}> about {p}", "See <http://127.0.0.1:9/c/{p}> about cust_456"),
        ("Bare http://127.0.0.1:9/?c={p} and {p}", "Bare http://127.0.0.1:9/?c={p} and cust_456"),
    ],
    ids=[
        "inline-code",
        "double-backticks",
        "fenced-block",
        "indented-block",
        "link",
        "image",
        "autolink",
        "bare-url",
    ],
)
def test_a_pseudonym_in_code_or_a_url_stays_one(text: str, expected: str) -> None:
    out, alias = restored(text)
    assert out == expected.format(p=alias)


def test_when_the_parse_and_the_text_disagree_nothing_is_restored() -> None:
    """A reference definition's URL stands apart from its link: which pseudonym is which cannot be told
    by order, so none is restored (never the wrong one)."""
    out, alias = restored("[ref]: http://127.0.0.1:9/c/{p}\n\n{p} and [page][ref]")
    assert "cust_456" not in out and out.count(alias) == 2
