"""The one rendering rule: hostile text stays data in every sink, and every parser is linear.

Markdown outputs are checked the way a browser would meet them: rendered to HTML by markdown-it-py
(raw HTML on, so anything our output let through would show as a tag) and searched for live
elements, and their plain text searched with the regexes remark-gfm uses to turn bare URLs and
e-mail addresses into links (mdast-util-gfm-autolink-literal) — Streamlit's st.markdown runs remark-gfm.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import tracemalloc
import unicodedata
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from support.hostile import Hostile, hostile_corpus, marker
from support.linear import assert_linear

from chatkit.domain.text import (
    ECHO_CHARS,
    LLM_MARKDOWN_MAX_CHARS,
    Sink,
    code_block,
    csv_cell,
    llm_markdown,
    markdown_code,
    markdown_text,
    plain_text,
    plotly_text,
    render,
    slack_text,
    terminal_text,
)

CORPUS = hostile_corpus()
MARKER = marker()
# html=True: raw HTML in our output would come out as a live tag here, so the test sees it.
BROWSER_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
# mdast-util-gfm-autolink-literal's find-and-replace over text nodes (Streamlit's markdown runs it).
GFM_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.I)
# (The e-mail pattern anchored at its "@": the original backtracks over every word before it.)
GFM_EMAIL = re.compile(r"(?<=[-.\w+])@[-\w]+(?:\.[-\w]+)+")
LIVE_TAGS = {"img", "script", "iframe", "a", "svg", "object", "embed", "video", "audio", "source", "link"}
LIVE_ATTRS = {"href", "src", "srcset", "action", "formaction", "poster", "background", "style"}
SPREADSHEET_STARTS = set("=+-@＝＋－＠")


class _Page(HTMLParser):
    """What a browser would act on (elements and attributes) and what it shows (text, code)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.live: list[str] = []
        self.text: list[str] = []
        self.code: list[str] = []
        self._in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in LIVE_TAGS:
            self.live.append(f"<{tag}>")
        self.live += [f"{tag}[{name}]" for name, _ in attrs if name in LIVE_ATTRS or name.startswith("on")]
        if tag == "code":
            self._in_code += 1
            self.code.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._in_code -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_code:
            self.code[-1] += data

    def visible(self) -> str:
        return _norm(" ".join(self.text))

    def prose(self) -> str:
        """The text outside code."""
        return _norm(" ".join(self.text).replace("".join(self.code), " ")) if self.code else self.visible()


def _page(markdown: str) -> _Page:
    page = _Page()
    page.feed(BROWSER_MD.render(markdown))
    page.close()
    return page


def _norm(text: str) -> str:
    return " ".join(text.split())


def gfm_autolinks(markdown: str) -> list[str]:
    """The bare URLs and e-mail addresses a GFM renderer would link in `markdown`'s plain text."""
    found: list[str] = []
    for token in BROWSER_MD.parse(markdown):
        if token.type != "inline":
            continue
        run: list[str] = []
        for child in [*(token.children or []), None]:
            if child is not None and child.type in ("text", "text_special", "softbreak"):
                run.append("\n" if child.type == "softbreak" else child.content)
                continue
            text = "".join(run)
            found += [m.group() for m in GFM_URL.finditer(text)] + [
                m.group() for m in GFM_EMAIL.finditer(text)
            ]
            run = []
    return found


# ---- every corpus entry, every sink -------------------------------------------------------------


def _check_markdown(entry: Hostile, out: str) -> None:
    page = _page(out)
    rendered = BROWSER_MD.render(out)
    assert not page.live, f"live elements: {page.live}"
    tags = re.findall(r"<[^>]*>", rendered)  # text is escaped (&lt;), so these are real tags
    assert "<img" not in rendered and "<script" not in rendered
    assert not [tag for tag in tags if "href=" in tag or "src=" in tag]
    assert not gfm_autolinks(out), f"a GFM renderer would link: {gfm_autolinks(out)}"
    for text in entry.visible:
        assert _norm(text) in page.visible(), f"{text!r} is not shown"
    for pseudonym, real in entry.pseudonyms.items():
        assert real in page.prose(), "the pseudonym is restored in plain text"
        assert all(real not in code for code in page.code), "never inside code or a URL"
        assert any(MARKER in code and pseudonym in code for code in page.code), "URLs keep the pseudonym"


def _check_plotly(entry: Hostile, out: str) -> None:
    assert "<" not in out and ">" not in out
    assert not re.search(r"&(?!amp;|lt;|gt;)", out), "every & is an entity Plotly decodes"
    _check_plain_visible(entry, html.unescape(out))


def _check_terminal(entry: Hostile, out: str) -> None:
    bad = [c for c in out if unicodedata.category(c) == "Cc" and c not in "\n\t"]
    assert not bad, f"control characters left: {bad!r}"
    assert not any(
        unicodedata.bidirectional(c) in ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")
        for c in out
    )
    _check_plain_visible(entry, out)


def _check_slack(entry: Hostile, out: str) -> None:
    assert "<" not in out and ">" not in out, "no <!channel>, <@U…> or <url|text> survives"
    assert not re.search(r"&(?!amp;|lt;|gt;)", out)
    outside_code = re.sub(r"`[^`]*`", " ", out)
    assert "://" not in outside_code and "@" not in outside_code, "URLs and @-words are inert code"
    _check_plain_visible(entry, html.unescape(out).replace("`", ""))


def _check_plain_visible(entry: Hostile, shown: str) -> None:
    for text in entry.visible:
        assert _norm(text) in _norm(shown), f"{text!r} is not shown"
    for pseudonym, real in entry.pseudonyms.items():
        assert f"customer {real}" in _norm(shown), "restored in plain text"
        assert f"c={pseudonym}" in shown and f"c={real}" not in shown, "never inside a URL"


def _check_csv(entry: Hostile, out: str) -> None:
    assert out in (entry.text, "'" + entry.text), "the cell keeps its text"
    if entry.csv_formula:
        assert out.startswith("'")
    if not out.startswith("'"):
        visible = out.lstrip(
            "".join(c for c in out[:50] if c.isspace() or unicodedata.category(c) in ("Cf", "Cc"))
        )
        assert visible[:1] not in SPREADSHEET_STARTS
    row = io.StringIO()
    csv.writer(row).writerow([out])
    limit = csv.field_size_limit(len(out) + 1024)
    try:
        assert next(csv.reader(io.StringIO(row.getvalue()))) == [out]
    finally:
        csv.field_size_limit(limit)


CHECKS: dict[Sink, Callable[[Hostile, str], None]] = {
    Sink.MARKDOWN: _check_markdown,
    Sink.MARKDOWN_CODE: _check_markdown,
    Sink.LLM_MARKDOWN: _check_markdown,
    Sink.PLOTLY: _check_plotly,
    Sink.TERMINAL: _check_terminal,
    Sink.PLAIN: _check_terminal,
    Sink.SLACK: _check_slack,
    Sink.CSV: _check_csv,
}


def test_every_sink_has_a_check() -> None:
    assert set(CHECKS) == set(Sink)


@pytest.mark.parametrize("sink", list(Sink))
@pytest.mark.parametrize("entry", CORPUS, ids=[e.name for e in CORPUS])
def test_hostile_text_stays_data(entry: Hostile, sink: Sink) -> None:
    if sink is Sink.MARKDOWN_CODE:
        entry = Hostile(entry.name, entry.text, entry.visible)  # code shows the text as it is: no restore
    out = render(entry.text, sink, restore=entry.pseudonyms or None)
    if sink is Sink.MARKDOWN_CODE:
        page = _page(out)
        assert not page.live and not gfm_autolinks(out)
        assert [_norm(code) for code in page.code] == [_norm(plain_text(entry.text))]
        return
    CHECKS[sink](entry, out)


def test_the_corpus_covers_what_the_issue_lists() -> None:
    names = {e.name for e in CORPUS}
    for needed in (
        "markdown_image",
        "reference_image",
        "autolink",
        "markdown_link",
        "raw_html_img",
        "raw_html_a",
        "raw_html_script",
        "javascript_url",
        "data_url",
        "backtick_runs",
        "fence_breakout",
        "plotly_html",
        "ansi_escapes",
        "bidi_controls",
        "zero_width",
        "very_long_value",
        "pseudonym_in_url",
    ):
        assert needed in names
    assert all(MARKER in e.text for e in CORPUS), "every entry points at the listener"


# ---- Markdown: data values ------------------------------------------------------------------------


SAFE_ALPHABET = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
    max_size=60,
) | st.text(alphabet="\\`*_{}[]()<>#+-.!|~$&=^:;@/ ax1\"'%?,", max_size=60)


@settings(max_examples=300, deadline=None)
@given(SAFE_ALPHABET)
def test_a_data_value_renders_literally(value: str) -> None:
    out = markdown_text(value)
    page = _page(out)
    assert "\n" not in out
    assert page.visible() == _norm(value)
    assert not page.live and not gfm_autolinks(out)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="`a b", max_size=30))
def test_inline_code_shows_any_backtick_run_exactly(value: str) -> None:
    out = markdown_code(value)
    codes = [t for tok in BROWSER_MD.parse(out) for t in tok.children or [] if t.type == "code_inline"]
    if value:
        assert [c.content for c in codes] == [value], out
    else:
        assert out == ""


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="`~a \n", max_size=40), st.sampled_from(["", "python", "json`x", "a b"]))
def test_a_code_block_fence_is_longer_than_any_backtick_run(value: str, info: str) -> None:
    tokens = BROWSER_MD.parse(code_block(value, info))
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1 and len(tokens) == 1
    assert fences[0].content == (value if value.endswith("\n") or not value else value + "\n")
    assert "`" not in fences[0].info


def test_a_notice_echoes_a_bounded_value() -> None:
    rejected = "?from=" + "![x](http://127.0.0.1:9/leak.png)" * 1000
    out = markdown_text(rejected, limit=ECHO_CHARS)
    assert len(_page(out).visible()) <= ECHO_CHARS
    assert not _page(out).live


def test_an_inline_value_cannot_start_a_block() -> None:
    for value in (
        "# title",
        "- item",
        "1. one",
        "> quote",
        "    code",
        "---",
        "| a |\n|---|",
        "===",
        "<div>",
    ):
        tokens = [
            t.type for t in BROWSER_MD.parse("x " + markdown_text(value) + "\n\n" + markdown_text(value))
        ]
        assert set(tokens) <= {"paragraph_open", "inline", "paragraph_close"}, (value, tokens)


# ---- Markdown: what a model wrote ----------------------------------------------------------------

REPORT = """\
## Root cause

The session hit the **rate limit** after *35* requests; see `limits.max_requests` and ~~nothing~~.

3. first step
4. second step
   - nested detail

```python
print("```")
```

> quoted customer note

| Category | Sessions |
|---|--:|
| rate_limited | 12 |
"""


def test_the_safe_subset_is_kept() -> None:
    rendered = BROWSER_MD.render(llm_markdown(REPORT))
    for tag in (
        "<h2>",
        "<strong>",
        "<em>",
        "<s>",
        "<code>",
        '<ol start="3">',
        "<ul>",
        "<pre>",
        "<blockquote>",
    ):
        assert tag in rendered, tag
    assert "<table>" in rendered and '<td style="text-align:right">12</td>' in rendered
    assert 'print("```")' in html.unescape(rendered)


def test_rewriting_is_stable() -> None:
    once = llm_markdown(REPORT + "\n[a](http://x.invalid/y) ![b](http://x.invalid/b.png) www.x.invalid\n")
    assert llm_markdown(once) == once


def test_images_become_their_alt_text_and_links_show_their_url() -> None:
    out = llm_markdown("![status](http://127.0.0.1:9/leak.png) [Sign in](http://127.0.0.1:9/login)")
    page = _page(out)
    assert _norm("".join(page.text)) == "status Sign in (http://127.0.0.1:9/login)"
    assert page.code == ["http://127.0.0.1:9/login"] and not page.live


@pytest.mark.parametrize(
    ("href", "live"),
    [
        ("https://docs.example.com/runbook", True),
        ("HTTPS://DOCS.EXAMPLE.COM/runbook", True),
        ("http://docs.example.com:8080/x?y=1#z", True),
        ("https://evil.example.org/runbook", False),
        ("https://sub.docs.example.com/x", False),
        ("https://docs.example.com@evil.example.org/", False),
        ("https://evil.example.org\\@docs.example.com/", False),
        ("ftp://docs.example.com/x", False),
        ("javascript://docs.example.com/%0Aalert(1)", False),
    ],
)
def test_only_allow_listed_hosts_keep_a_live_link(href: str, live: bool) -> None:
    out = llm_markdown(f"[runbook]({href})", allow_hosts={"docs.example.com"})
    page = _page(out)
    assert bool(page.live) is live, out
    assert "runbook" in page.visible()
    assert not gfm_autolinks(out)


def test_no_allow_list_means_no_link() -> None:
    assert not _page(llm_markdown("[runbook](https://docs.example.com/runbook)")).live


def test_pseudonyms_are_restored_in_prose_only_with_the_real_pseudonymizer() -> None:
    from chatkit.llm.prompts import Pseudonymizer

    pseudonymizer = Pseudonymizer(b"k" * 32)
    alias = pseudonymizer.pseudonym("acme-42")
    assert alias is not None
    answer = f"Customer {alias} retried; [{alias}'s page](http://127.0.0.1:9/c?id={alias}) `grep {alias}`"
    page = _page(llm_markdown(answer, restore=pseudonymizer.restore))
    assert page.prose().startswith("Customer acme-42 retried; acme-42's page")
    assert page.code == [f"http://127.0.0.1:9/c?id={alias}", f"grep {alias}"]


def test_an_answer_is_capped_before_parsing() -> None:
    out = llm_markdown("[" * 1_000_000)
    assert len(out) < 3 * LLM_MARKDOWN_MAX_CHARS


FRAGMENTS = [
    "[",
    "]",
    "(",
    ")",
    "!",
    "<",
    ">",
    "`",
    "``",
    "*",
    "_",
    "~~",
    "#",
    " ",
    "\n",
    "\n\n",
    "1.",
    "- ",
    "> ",
    "|",
    ":",
    "&",
    "&#60;",
    "&lt;",
    "\\",
    "a",
    "http://h.invalid/x",
    "www.h.invalid",
    "x@h.invalid",
    "[r]: http://h.invalid/r",
    "<img src=http://h.invalid/i>",
    "    ",
    "```",
    "javascript:",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_any_markdown_comes_out_inert(source: str) -> None:
    out = llm_markdown(source)
    assert not _page(out).live, out
    assert not gfm_autolinks(out), out


# ---- the other sinks -------------------------------------------------------------------------------


def test_terminal_text_drops_escapes_and_controls_but_keeps_lines() -> None:
    text = (
        "\x1b[31mred\x1b[0m\tok\n\x1b]8;;http://x/\x07link\x1b]8;;\x07 \x9b2J\x1b[1;31mhalf\rover\x00\u202e!"
    )
    assert terminal_text(text) == "red\tok\nlink half\nover!"


def test_plotly_text_makes_markup_inert() -> None:
    assert (
        plotly_text('<a href="http://x/">y</a> & <br>z\nw')
        == '&lt;a href="http://x/"&gt;y&lt;/a&gt; &amp; &lt;br&gt;z w'
    )


def test_slack_text_disarms_mentions_and_links() -> None:
    assert slack_text("<!channel> hi <@U1> <http://x.invalid|go> & bye") == (
        "&lt;!channel&gt; hi `&lt;@U1&gt;` `&lt;http://x.invalid|go&gt;` &amp; bye"
    )


@pytest.mark.parametrize(
    "text",
    [
        "=1+2",
        "+1",
        "-2+3",
        "@SUM(A1)",
        "\tcmd",
        "\rcmd",
        "\ncmd",
        "  =1+2",
        "＝1+1",
        "=cmd|' /C calc'!A0",
        "\u00a0=1+2",
        "\ufeff=1+2",
        "\u200b@x",
        "\u2003\u3000+1",
        "\u202f-1",
        "\u2060\u00a0 =x",
    ],
)
def test_formula_like_cells_are_neutralized_behind_invisible_characters(text: str) -> None:
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize(
    "value", ["plain", "cksess_1", "", "a=b", "rate-limited", " \u00a0", 35, -5, 0.5, None, True]
)
def test_other_cells_pass_unchanged(value: object) -> None:
    assert csv_cell(value) == value


def test_plain_text_restores_outside_urls_only() -> None:
    out = plain_text("cust_1 at http://h/?c=cust_1 \x1b[2J", restore={"cust_1": "acme"})
    assert out == "acme at http://h/?c=cust_1 "


# ---- linear time --------------------------------------------------------------------------------


def _runs(size: int) -> str:
    """Backtick runs of every length 1, 2, 3 … — the worst case for fence and code-span finding."""
    out, length, total = [], 1, 0
    while total < size:
        out.append("`" * length + "a")
        total += length + 1
        length += 1
    return "".join(out)[:size]


ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "backtick_runs": _runs,
    "backticks": lambda n: "`" * n,
    "brackets": lambda n: "[" * n,
    "image_openers": lambda n: "![" * (n // 2),
    "angles": lambda n: "<" * n,
    "bangs": lambda n: "!" * n,
    "urls": lambda n: "http://h.invalid/" * (n // 17),
    "one_long_word": lambda n: "a" * n,
    "escapes": lambda n: "\x1b[" * (n // 2),
    "digit_dots": lambda n: "1." * (n // 2),
}


# Each sink against the inputs that stress what it scans for.
LINEAR_CASES = [
    *((Sink.MARKDOWN, pattern) for pattern in ADVERSARIAL),
    (Sink.MARKDOWN_CODE, "backtick_runs"),
    (Sink.MARKDOWN_CODE, "backticks"),
    (Sink.PLOTLY, "angles"),
    (Sink.PLOTLY, "one_long_word"),
    (Sink.TERMINAL, "escapes"),
    (Sink.TERMINAL, "urls"),
    (Sink.PLAIN, "one_long_word"),
    (Sink.SLACK, "backticks"),
    (Sink.SLACK, "urls"),
    (Sink.SLACK, "angles"),
    (Sink.CSV, "one_long_word"),
]


@pytest.mark.parametrize(("sink", "pattern"), LINEAR_CASES, ids=[f"{s.value}-{p}" for s, p in LINEAR_CASES])
def test_every_sink_is_linear(sink: Sink, pattern: str) -> None:
    assert_linear(lambda text: render(text, sink), ADVERSARIAL[pattern])


def test_code_blocks_and_csv_cells_are_linear() -> None:
    assert_linear(code_block, _runs)
    assert_linear(csv_cell, lambda n: " \u00a0\ufeff\u200b" * (n // 4) + "=1")


def test_llm_markdown_is_linear_uncapped_on_backtick_runs() -> None:
    assert_linear(lambda text: llm_markdown(text, limit=None), _runs)


@pytest.mark.parametrize("pattern", ["brackets", "image_openers", "angles", "bangs"])
def test_llm_markdown_is_linear_uncapped(pattern: str) -> None:
    # markdown-it-py needs up to ~40 µs a character on these, so a smaller ladder (still ten times per
    # step, still past the 32,000-character cap) keeps the test short; a quadratic would show 100×.
    assert_linear(
        lambda text: llm_markdown(text, limit=None), ADVERSARIAL[pattern], sizes=(500, 5_000, 50_000)
    )


def test_ansi_stripping_is_linear_on_unterminated_sequences() -> None:
    assert_linear(terminal_text, lambda n: "\x1b]8;;" + "a" * n)
    assert_linear(terminal_text, lambda n: "\x1b[" + "0;" * (n // 2))


def test_restore_is_linear() -> None:
    assert_linear(
        lambda text: markdown_text(text, restore={"cust_1a2b3c4d": "acme"}),
        lambda n: "cust_1a2b3c4d " * (n // 14),
    )


# ---- the known offenders of part 1, made linear in part 2 -----------------------------------------


def _parse_report() -> Callable[[str], object]:
    try:
        from chatkit.llm.answers import parse_report  # type: ignore[import-not-found]
    except ImportError:
        from chatkit.reports.analyzer import parse_report
    return parse_report


def test_parse_report_is_linear_on_an_open_fence() -> None:
    parse_report = _parse_report()
    # A trailing character keeps strip() from eating the spaces; the old fence regex backtracked
    # cubically here (10 KB would take hours: two CPU seconds are enough to tell).
    assert_linear(parse_report, lambda n: "```" + " " * (n - 4) + "x", first_budget=2.0)


def test_import_of_over_nested_json_is_linear() -> None:
    from chatkit.ingest import import_bytes

    # Too deep for json.loads, so the salvage path scans on; the escaped quotes never close a string.
    assert_linear(
        lambda data: import_bytes("deep.json", data), lambda n: b"[" * 1100 + b'"' + b'\\"' * (n // 2)
    )


def _one_cell_csv(cell: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "status", "state_variables"])
    writer.writerow(["cksess_1", "cancelled", cell])
    return out.getvalue().encode()


def _nested_cell(size: int) -> str:
    return "[" + "[[[1]]], " * (size // 9) + "]"  # a Python literal, not JSON: literal_eval reads it today


def _peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_import_of_a_csv_with_one_huge_cell_is_linear_and_bounded() -> None:
    from chatkit.ingest import import_bytes

    # ast.literal_eval's syntax tree made a 100 KB cell peak at ~48 MB, against ~1.3 MB for plain
    # text. The CSV reader itself grows ~20-fold from a 100 KB to a 1 MB cell of plain text (its
    # field buffer leaves the CPU caches), so the hostile cell is held to the plain cell's ratio.
    def import_csv(data: bytes) -> object:
        return import_bytes("big.csv", data)

    plain_times = assert_linear(import_csv, lambda n: _one_cell_csv("x" * n), max_ratio=1000)
    plain_ratio = plain_times[1_000_000] / max(plain_times[100_000], 1e-6)
    assert_linear(import_csv, lambda n: _one_cell_csv(_nested_cell(n)), max_ratio=max(15, 1.5 * plain_ratio))
    hostile = _one_cell_csv(_nested_cell(100_000))
    plain = _one_cell_csv("x" * (len(hostile) - 40))
    baseline = _peak_bytes(lambda: import_bytes("plain.csv", plain))
    assert _peak_bytes(lambda: import_bytes("big.csv", hostile)) <= 5 * baseline


def test_the_fixture_is_plain_json() -> None:
    from support import FIXTURES

    document = json.loads((FIXTURES / "hostile_text.json").read_text())
    assert document["marker"].startswith("http://127.0.0.1:PORT_PLACEHOLDER/")
