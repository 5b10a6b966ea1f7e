"""The one rendering rule for untrusted text: session fields and LLM answers stay data in every sink.

Text that end users, other systems or a model wrote reaches places that interpret markup: Streamlit
Markdown (which also turns bare URLs and e-mail addresses into links, GFM style), Plotly's pseudo-HTML,
terminals (ANSI escapes, OSC 8 hyperlinks), Slack's mrkdwn and spreadsheets (formulas). Each sink has
one function here, and `render(text, sink)` picks it by name; they share one core:

- `_clean`: line breaks normalised, ANSI/OSC escape sequences and control characters dropped, bidi
  overrides and zero-width characters dropped (they reorder or hide what a reader sees);
- URL-like words (``://``, ``www.``, ``@``, ``javascript:`` …) are shown as inert code, never as text a
  renderer could link, and pseudonyms are restored in plain text only — never inside a URL or code.

LLM Markdown is parsed with markdown-it-py (a CommonMark parser, not regexes) and written back from its
syntax tree, so the output holds only constructs built here: headings, paragraphs, emphasis, lists,
block quotes, tables, code. Images become their alt text, links become their text with the URL beside
it in code (a live link only when the host is on `allow_hosts`), raw HTML and entities become literal
text. Everything is linear in the input: regexes here have no nested quantifiers, and the parser's
pathological cases (bracket and backtick runs) are covered by tests/domain/test_text.py.

Pure functions, no I/O. One module past 500 lines on purpose: it is the whole of the rule, and a reader
checking that no sink can emit a live link must see every sink's function beside the shared core.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterator, Mapping
from enum import StrEnum
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

__all__ = [
    "ECHO_CHARS",
    "LLM_MARKDOWN_MAX_CHARS",
    "Restore",
    "Sink",
    "clip",
    "code_block",
    "csv_cell",
    "llm_markdown",
    "markdown_code",
    "markdown_text",
    "plain_text",
    "plotly_text",
    "render",
    "slack_text",
    "terminal_text",
]

# A notice quoting a value the app rejected (a share link's `?from=…`, a bad field) shows this much.
ECHO_CHARS = 80
# An LLM answer is cut to this before parsing: a report is a few KB, and markdown-it-py, linear as it is,
# needs about 40 µs per character on its worst input (a run of '['), so the cap keeps one page fast.
LLM_MARKDOWN_MAX_CHARS = 32_000

# A pseudonym reversal: a callable over text (Pseudonymizer.restore) or a mapping of whole words.
Restore: TypeAlias = Callable[[str], str] | Mapping[str, str]


class Sink(StrEnum):
    """Where a string goes; `render` applies that sink's rule."""

    MARKDOWN = "markdown"  # a data value inside Markdown: ids, names, reasons, notices, labels, toasts
    MARKDOWN_CODE = "markdown_code"  # a data value shown as inline code
    LLM_MARKDOWN = "llm_markdown"  # Markdown a model wrote: a safe subset is kept
    PLOTLY = "plotly"  # Plotly text, hover and tick labels
    TERMINAL = "terminal"  # CLI output
    SLACK = "slack"  # Slack / webhook message text
    CSV = "csv"  # a spreadsheet cell
    PLAIN = "plain"  # text that no one interprets (JSON answers): cleaned, pseudonyms restored


# ---- the shared core -------------------------------------------------------------------------------

# ECMA-48 escape sequences. Each alternative starts at ESC (or its C1 form), its runs are over disjoint
# classes and its terminator is optional, so a match never backtracks: the scan is linear. An
# unterminated sequence is dropped to the end of its run, which is what a terminal would swallow too.
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI: colours, cursor moves, screen clears
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC (8 = link), DCS …
    r"|\x1b[ -/]*[0-~]?"  # the other ESC sequences
)
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_ZERO_WIDTH = "\u200b\u2060\u2061\u2062\u2063\u2064\ufeff\u180e"
# Dropped everywhere: C0 controls but tab and newline, DEL, C1 controls, bidi controls, zero widths.
_DROP = {
    **{c: None for c in range(0x20) if c not in (0x09, 0x0A)},
    0x7F: None,
    **{c: None for c in range(0x80, 0xA0)},
    **{ord(c): None for c in _BIDI + _ZERO_WIDTH},
}
_WORD = re.compile(r"\S+")
_SPACE = re.compile(r"\s+")
# A word a renderer could turn into a link or a fetch: GFM links http(s)://, www. and e-mail addresses
# in plain text; the schemes are shown inert too. Searched inside one word, so it is linear.
_URLISH = re.compile(r"://|www\.|@|(?<![a-z])(?:javascript|vbscript|data|mailto|xmpp|file):", re.I)


def _urlish(word: str) -> bool:
    """Whether `word` could become a link or a fetch (the substring tests first: they are memchr-fast)."""
    if "@" in word or "://" in word:
        return True
    return ("." in word or ":" in word) and _URLISH.search(word) is not None


def clip(text: str, limit: int | None) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut; no limit keeps it whole."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


def _clean(text: str, *, lines: bool = True) -> str:
    """Escape sequences and invisible or reordering characters dropped; CRLF and CR become LF.

    `lines=False` turns every line break and tab into a space, for values shown inline.
    """
    text = _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).translate(_DROP)
    return text if lines else text.replace("\n", " ").replace("\t", " ")


def _restorer(restore: Restore | None) -> Callable[[str], str] | None:
    if restore is None or callable(restore):
        return restore
    mapping = restore
    return lambda word: re.sub(r"\w+", lambda m: mapping.get(m.group(), m.group()), word)


def _restore_outside_urls(text: str, restore: Callable[[str], str] | None) -> str:
    """Pseudonyms swapped back in every word except URL-like ones (a URL carries the pseudonym on)."""
    if restore is None:
        return text
    return _WORD.sub(lambda m: m.group() if _urlish(m.group()) else restore(m.group()), text)


# ---- Markdown: data values -------------------------------------------------------------------------

# Every ASCII punctuation mark that starts or ends a Markdown, GFM, Streamlit (":red[…]", "$math$")
# construct, or an entity, gets a backslash; CommonMark shows an escaped punctuation mark literally.
_MD_ESCAPE = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#+-!|~$&=^"})
_DIGIT_DOT = re.compile(r"(?<=\d)\.")  # "1." at a line start would begin a list


def _escape(text: str) -> str:
    return _DIGIT_DOT.sub(r"\\.", text.translate(_MD_ESCAPE))


def _code_span(content: str, *, in_table: bool = False) -> str:
    """Inline code showing `content` exactly: the fence is longer than any backtick run inside."""
    content = content.replace("\n", " ")
    if in_table:
        content = content.replace("|", "\\|")  # GFM splits cells before it reads code spans
    if not content:
        return ""
    fence = "`" * (_longest_run(content, "`") + 1)
    # CommonMark strips one space from each end when both have one: pad so exactly the content is shown.
    pad = "`" in (content[0], content[-1]) or (content[0] == content[-1] == " " and bool(content.strip()))
    return f"{fence} {content} {fence}" if pad else f"{fence}{content}{fence}"


def _longest_run(text: str, char: str) -> int:
    runs = re.findall(re.escape(char) + "+", text)
    return max(map(len, runs), default=0)


class _Inline:
    """Inline Markdown being built: literal markup, and code spans that are merged when they would
    touch (two fences side by side read as one longer, unclosed fence)."""

    def __init__(self, *, in_table: bool = False) -> None:
        self.in_table = in_table
        self.items: list[tuple[bool, str]] = []  # (is code, markup or code content)

    def code(self, content: str) -> None:
        if not content:
            return
        if self.items and self.items[-1][0]:
            self.items[-1] = (True, self.items[-1][1] + content)
        else:
            self.items.append((True, content))

    def markup(self, markup: str) -> None:
        if markup:
            self.items.append((False, markup))

    def text(self, text: str, restore: Callable[[str], str] | None) -> None:
        """Plain text that renders literally: words that look like URLs become code (a renderer links
        bare URLs), pseudonyms are restored in the others, everything else is escaped."""
        position = 0
        for match in _WORD.finditer(text):
            self.markup(text[position : match.start()])
            position = match.end()
            word = match.group()
            if _urlish(word):
                self.code(word)
                continue
            if restore is not None:
                restored = restore(word)
                if restored != word:
                    self.text(_SPACE.sub(" ", _clean(restored)).strip(), None)
                    continue
            self.markup(_escape(word))
        self.markup(text[position:])

    def result(self) -> str:
        return "".join(
            _code_span(value, in_table=self.in_table) if code else value for code, value in self.items
        )


def _text_run(text: str, restore: Callable[[str], str] | None) -> str:
    inline = _Inline()
    inline.text(text, restore)
    return inline.result()


def markdown_text(value: object, *, restore: Restore | None = None, limit: int | None = None) -> str:
    """A data value (id, name, reason, a rejected input) for any Markdown sink: it renders literally,
    on one line; URL-like words are shown as code, never linked; `limit` bounds an echo."""
    text = clip(_SPACE.sub(" ", _clean(str(value), lines=False)).strip(), limit)
    return _text_run(text, _restorer(restore))


def markdown_code(value: object, *, limit: int | None = None) -> str:
    """A data value as inline code (ids): shown exactly, whatever backticks it holds."""
    return _code_span(clip(_clean(str(value), lines=False), limit))


_INFO = re.compile(r"[\w+#.-]{1,30}")


def code_block(text: str, info: str = "") -> str:
    """A fenced code block showing `text` exactly: the fence is longer than any backtick run inside,
    and the info string keeps only a language name (a backtick in it would end the fence)."""
    text = _clean(text)
    fence = "`" * max(3, _longest_run(text, "`") + 1)
    language = _INFO.match(info.strip())
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{fence}{language.group() if language else ''}\n{body}{fence}"


# ---- Markdown: what a model wrote ------------------------------------------------------------------

# html=False: raw HTML is text; linkify off: bare URLs are found by _text_run, which makes them inert.
_PARSER = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable(["table", "strikethrough"])

_Part: TypeAlias = tuple[Literal["text", "code", "md"], str]


def llm_markdown(
    text: str,
    *,
    allow_hosts: Collection[str] = (),
    restore: Restore | None = None,
    limit: int | None = LLM_MARKDOWN_MAX_CHARS,
) -> str:
    """Markdown a model wrote, rewritten from its syntax tree into a safe subset.

    Kept: headings, paragraphs, emphasis, strike-through, lists, block quotes, tables, inline code
    and code blocks (fences longer than any backtick run inside), rules. Images become their alt text.
    Links (inline, reference-style, autolinks) become their text with the URL beside it as code; a
    link stays live only when its http(s) host is in `allow_hosts` (exact, lower-case). Raw HTML and
    entities become literal text. Pseudonyms are restored in plain text, never in URLs or code.
    """
    source = _clean(clip(text, limit))
    writer = _Writer({h.lower() for h in allow_hosts}, _restorer(restore))
    return writer.blocks(SyntaxTreeNode(_PARSER.parse(source))).strip("\n") + "\n"


class _Writer:
    """Markdown text from a markdown-it syntax tree; every string it emits is escaped or built here.

    Recursion follows the tree, whose depth markdown-it bounds (maxNesting = 20).
    """

    def __init__(self, allow_hosts: set[str], restore: Callable[[str], str] | None) -> None:
        self.allow_hosts = allow_hosts
        self.restore = restore

    # -- blocks

    def blocks(self, node: SyntaxTreeNode, *, tight: bool = False) -> str:
        out: list[str] = []
        previous: SyntaxTreeNode | None = None
        for child in node.children:
            rendered = self.block(child, previous)
            previous = child
            if rendered:
                out.append(rendered)
        return ("\n" if tight else "\n\n").join(out)

    def block(self, node: SyntaxTreeNode, previous: SyntaxTreeNode | None) -> str:
        kind = node.type
        if kind == "paragraph":
            return self.inline_of(node).lstrip()
        if kind == "heading":
            level = int(node.tag[1]) if node.tag[1:].isdigit() else 2
            content = self.inline_of(node, one_line=True).strip()
            return "#" * level + " " + content if content else ""
        if kind in ("fence", "code_block"):
            return code_block(node.content, node.info.split(" ", 1)[0] if kind == "fence" else "")
        if kind == "hr":
            return "---"
        if kind == "blockquote":
            inner = self.blocks(node)
            return "\n".join("> " + line if line else ">" for line in inner.split("\n"))
        if kind in ("bullet_list", "ordered_list"):
            return self.list_(node, alternate=previous is not None and previous.type == kind)
        if kind == "table":
            return self.table(node)
        return _text_run(_plain_content(node), None)  # html_block or anything newer: literal text

    def list_(self, node: SyntaxTreeNode, *, alternate: bool) -> str:
        ordered = node.type == "ordered_list"
        tight = all(p.hidden for item in node.children for p in item.children if p.type == "paragraph")
        number = int(node.attrs.get("start", 1)) if ordered else 1  # markdown-it: at most 9 digits
        items: list[str] = []
        for offset, item in enumerate(node.children):
            if ordered:
                marker = f"{number + offset}{')' if alternate else '.'} "
            else:
                marker = "* " if alternate else "- "
            content = self.blocks(item, tight=tight)
            indent = " " * len(marker)
            lines = content.split("\n") if content else [""]
            first = (marker + lines[0]).rstrip()
            items.append("\n".join([first, *(indent + line if line else "" for line in lines[1:])]))
        return ("\n" if tight else "\n\n").join(items)

    def table(self, node: SyntaxTreeNode) -> str:
        rows: list[list[str]] = []
        aligns: list[str] = []
        for section in node.children:
            for tr in section.children:
                cells = []
                for cell in tr.children:
                    cells.append(self.inline_of(cell, one_line=True, in_table=True).strip())
                    if section.type == "thead":
                        style = str(cell.attrs.get("style", ""))
                        aligns.append(style.removeprefix("text-align:"))
                rows.append(cells)
        if not rows:
            return ""
        width = len(rows[0])
        rule = {"left": ":--", "right": "--:", "center": ":-:"}
        lines = ["| " + " | ".join(rows[0]) + " |"]
        lines.append("|" + "|".join(rule.get(a, "---") for a in (aligns + [""] * width)[:width]) + "|")
        for row in rows[1:]:
            row = (row + [""] * width)[:width]
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines)

    # -- inline

    def inline_of(self, node: SyntaxTreeNode, *, one_line: bool = False, in_table: bool = False) -> str:
        parts: list[_Part] = []
        for child in node.children:  # a block's single `inline` child
            self.inline(child, parts, one_line=one_line)
        return self.join(parts, in_table=in_table)

    def inline(self, node: SyntaxTreeNode, parts: list[_Part], *, one_line: bool) -> None:
        kind = node.type
        if kind in ("text", "text_special", "html_inline"):
            parts.append(("text", node.content))
        elif kind == "softbreak":
            parts.append(("text", " " if one_line else "\n"))
        elif kind == "hardbreak":
            parts.append(("text", " ") if one_line else ("md", "\\\n"))
        elif kind == "code_inline":
            parts.append(("code", node.content))
        elif kind in ("em", "strong", "s"):
            inner: list[_Part] = []
            for child in node.children:
                self.inline(child, inner, one_line=one_line)
            if any(value.strip() for _, value in inner):
                mark = {"em": "*", "strong": "**", "s": "~~"}[kind]
                parts += [("md", mark), *inner, ("md", mark)]
            else:
                parts += inner
        elif kind == "image":
            parts.append(("text", _plain_content(node)))  # the alt text; nothing is fetched
        elif kind == "link":
            self.link(node, parts, one_line=one_line)
        else:
            for child in node.children:
                self.inline(child, parts, one_line=one_line)
            if not node.children and node.content:
                parts.append(("text", node.content))

    def link(self, node: SyntaxTreeNode, parts: list[_Part], *, one_line: bool) -> None:
        href = str(node.attrs.get("href", ""))
        inner: list[_Part] = []
        for child in node.children:
            self.inline(child, inner, one_line=one_line)
        if self.allowed(href):
            parts += [("md", "["), *(inner or [("text", href)]), ("md", f"](<{href}>)")]
            return
        label = "".join(value for _, value in inner).strip()
        if node.markup == "autolink" or not label or label == href:
            parts.append(("code", label or href))  # the URL as written, inert
        else:
            parts += [*inner, ("text", " ("), ("code", href), ("text", ")")]

    def allowed(self, href: str) -> bool:
        if not self.allow_hosts or not _SAFE_HREF.fullmatch(href):
            return False
        try:
            parts = urlsplit(href)
        except ValueError:
            return False
        return (
            parts.scheme in ("http", "https")
            and "@" not in parts.netloc  # no userinfo: what a browser shows as host is the host
            and (parts.hostname or "") in self.allow_hosts
        )

    def join(self, parts: list[_Part], *, in_table: bool) -> str:
        """Adjacent text parts are joined before URL-like words are looked for: a renderer sees them
        as one text, so "http:" + "//host" from two tokens must not become a link."""
        inline = _Inline(in_table=in_table)
        pending: list[str] = []
        for kind, value in parts:
            if kind == "text":
                pending.append(value)
                continue
            inline.text("".join(pending), self.restore)
            pending = []
            if kind == "code":
                inline.code(value)
            else:
                inline.markup(value)
        inline.text("".join(pending), self.restore)
        return inline.result()


# The characters markdown-it leaves in a normalised href (it percent-encodes the rest); nothing that
# could end the `<…>` destination or hide a host.
_SAFE_HREF = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]!$&'()*+,;=%]*")


def _plain_content(node: SyntaxTreeNode) -> str:
    """The text under a node, markup dropped (an image's alt text)."""
    return "".join(_texts(node))


def _texts(node: SyntaxTreeNode) -> Iterator[str]:
    if node.type in ("softbreak", "hardbreak"):
        yield " "
    elif not node.children:
        yield node.content
    for child in node.children:
        yield from _texts(child)


# ---- the other sinks -------------------------------------------------------------------------------


def plain_text(value: object, *, restore: Restore | None = None, limit: int | None = None) -> str:
    """Text no one interprets (a JSON answer, a plain download): cleaned, pseudonyms restored
    outside URL-like words."""
    return clip(_restore_outside_urls(_clean(str(value)), _restorer(restore)), limit)


def terminal_text(value: object, *, restore: Restore | None = None, limit: int | None = None) -> str:
    """CLI output: ANSI/OSC escapes (colours, cursor moves, OSC 8 links) and control characters
    dropped, newline and tab kept; a CR cannot rewrite the line."""
    return plain_text(value, restore=restore, limit=limit)


def _entities(text: str) -> str:
    """`&`, `<` and `>` as HTML entities (str.replace sizes its result once: fast and linear)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plotly_text(value: object, *, restore: Restore | None = None, limit: int | None = None) -> str:
    """A Plotly text, hover or tick label: Plotly reads `<a href>`, `<br>`, `<b>` and entities in
    labels, so `&`, `<` and `>` become entities; one line. Never pass it as a hovertemplate."""
    text = _SPACE.sub(" ", _clean(str(value), lines=False)).strip()
    return _entities(clip(_restore_outside_urls(text, _restorer(restore)), limit))


def slack_text(value: object, *, restore: Restore | None = None, limit: int | None = None) -> str:
    """Slack/webhook mrkdwn: `&`, `<`, `>` escaped, which disarms `<!channel>`, `<!here>`, `<@U…>`
    and `<url|text>`; URL-like words and `@here`-style words go in backticks, so Slack neither links
    nor unfurls (fetches) them."""
    text = clip(_restore_outside_urls(_clean(str(value)), _restorer(restore)), limit)
    # mrkdwn has no escape for a backtick: the data's own become a look-alike, so ours pair up.
    text = text.replace("`", "\u02cb")

    def word(match: re.Match[str]) -> str:
        token = match.group()
        return "`" + token + "`" if _urlish(token) else token

    return _entities(_WORD.sub(word, text))


# What makes Excel, LibreOffice or Google Sheets run a cell as a formula or command (OWASP "CSV
# injection"), with the full-width forms some of them normalise.
_FORMULA_START = frozenset("=+-@\t\r\n＝＋－＠")


def csv_cell(value: Any) -> Any:
    """A spreadsheet cell: text a spreadsheet would evaluate gets a leading apostrophe; other values
    pass as they are. Leading spaces, NBSP, BOM and other invisible characters are looked through,
    since spreadsheets skip or trim them before evaluating."""
    if not isinstance(value, str):
        return value
    for char in value:  # stops at the first visible character: linear in the leading run only
        if char in _FORMULA_START:
            return "'" + value
        if not (char.isspace() or unicodedata.category(char) in ("Cf", "Cc", "Zs")):
            return value
    return value


# ---- one entry point -------------------------------------------------------------------------------


def render(
    text: str,
    sink: Sink | str,
    *,
    restore: Restore | None = None,
    allow_hosts: Collection[str] = (),
    limit: int | None = None,
) -> str:
    """`text` made safe for `sink` (see `Sink`); `limit` bounds the visible length where it applies."""
    sink = Sink(sink)
    if sink is Sink.LLM_MARKDOWN:
        return llm_markdown(
            text, allow_hosts=allow_hosts, restore=restore, limit=limit or LLM_MARKDOWN_MAX_CHARS
        )
    if sink is Sink.MARKDOWN:
        return markdown_text(text, restore=restore, limit=limit)
    if sink is Sink.MARKDOWN_CODE:
        return markdown_code(text, limit=limit)
    if sink is Sink.CSV:
        return str(csv_cell(clip(text, limit)))
    functions = {
        Sink.PLOTLY: plotly_text,
        Sink.TERMINAL: terminal_text,
        Sink.SLACK: slack_text,
        Sink.PLAIN: plain_text,
    }
    return functions[sink](text, restore=restore, limit=limit)
