"""Share links: query parameters in, a checked view out, and back again; junk becomes a notice."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from chatkit.analytics.frame import MISSING_LABEL, Filters
from chatkit.domain.text import markdown_text
from chatkit.web.links import (
    MAX_SEARCH,
    LinkState,
    carried,
    link_params,
    naive_utc,
    parse_link,
    restrict_to_data,
    short,
    time_bounds,
    with_filters,
)


def test_link_round_trip() -> None:
    params = {
        "ds": ["abc123"],
        "cat": ["rate_limited", "ttl_expired"],
        "wf": ["workflow_alpha"],
        "from": ["2025-03-14T08:00"],
        "q": ["cksess"],
        "sid": ["cksess_1"],
    }
    state = parse_link(params)
    assert not state.notices
    assert link_params(state) == params


def test_every_parameter_is_read_into_its_place() -> None:
    state = parse_link(
        {
            "ds": ["d1"],
            "cat": ["rate_limited"],
            "wf": ["workflow_alpha", MISSING_LABEL],
            "cust": ["cust_001"],
            "status": ["cancelled", "expired"],
            "from": ["2025-03-14T08:00"],
            "to": ["1741953600"],  # epoch seconds: 2025-03-14T12:00Z
            "q": ["sess"],
            "sid": ["cksess_9"],
            "job": ["job_1"],
        }
    )
    assert state.notices == []
    assert (state.dataset_id, state.session_id, state.job_id) == ("d1", "cksess_9", "job_1")
    assert state.filters == Filters(
        categories=["rate_limited"],
        workflows=["workflow_alpha", MISSING_LABEL],
        customers=["cust_001"],
        statuses=["cancelled", "expired"],
        start=datetime(2025, 3, 14, 8, 0, tzinfo=UTC),
        end=datetime(2025, 3, 14, 12, 0, tzinfo=UTC),
        search="sess",
    )
    assert link_params(state)["to"] == ["2025-03-14T12:00"]


def test_junk_values_are_ignored_with_a_notice_each() -> None:
    state = parse_link(
        {
            "ds": ["../../etc/passwd"],
            "sid": ["a b"],
            "job": ["x" * 201],
            "cat": ["rate_limited", "nonsense", "rate_limited"],
            "status": ["paused"],
            "wf": ["<script>", "workflow_ok"],
            "from": ["yesterday"],
            "evil": ["1"],
        }
    )
    assert (state.dataset_id, state.session_id, state.job_id) == (None, None, None)
    assert state.filters == Filters(categories=["rate_limited"], workflows=["workflow_ok"])
    assert state.notices == [
        "`ds` is not a valid id (`../../etc/passwd`), so it was ignored.",
        "`sid` is not a valid id (`a b`), so it was ignored.",
        f"`job` is not a valid id (`{'x' * 39}…`), so it was ignored.",
        "Unknown `cat` value(s) ignored: `nonsense`.",
        "Unknown `status` value(s) ignored: `paused`.",
        "Unknown `wf` value(s) ignored: `<script>`.",
        "`from` was ignored: "
        + markdown_text(
            "'yesterday' is not a date: use epoch seconds, epoch milliseconds or ISO-8601", limit=80
        )
        + ".",
        "Unknown link parameter `evil` was ignored.",
    ]


def test_empty_and_streamlit_parameters_are_skipped_silently() -> None:
    state = parse_link({"ds": [""], "cat": [], "embed": ["true"], "embed_options": ["dark_theme"]})
    assert state == LinkState()


def test_the_last_value_of_a_single_parameter_wins_and_search_is_capped() -> None:
    state = parse_link({"ds": ["first", "second"], "q": ["old", "n" * (MAX_SEARCH + 50)]})
    assert state.dataset_id == "second"
    assert state.filters.search == "n" * MAX_SEARCH


def test_a_backwards_time_range_is_dropped_whole() -> None:
    state = parse_link({"from": ["2025-03-14T10:00"], "to": ["2025-03-14T09:00"]})
    assert (state.filters.start, state.filters.end) == (None, None)
    assert state.notices == ["`from` is after `to`, so the time filter was ignored."]


def test_notices_quote_safely() -> None:
    assert short("a`b") == "``a`b``"  # code that shows the backtick, not one that ends early
    assert short("x" * 41) == "`" + "x" * 39 + "…`"
    assert short("x" * 40) == "`" + "x" * 40 + "`"


def test_values_the_data_set_lacks_are_dropped() -> None:
    filters = Filters(workflows=["wf_a", "wf_gone"], customers=["c1"], categories=["active"])
    options = {"workflows": ["wf_a", "wf_b"], "customers": ["c1"]}
    kept, notices = restrict_to_data(filters, options)
    assert kept == Filters(workflows=["wf_a"], customers=["c1"], categories=["active"])
    assert notices == ["`wf` value(s) not in this data set were ignored: `wf_gone`."]
    same, none = restrict_to_data(Filters(customers=["c1"]), options)
    assert none == [] and same == Filters(customers=["c1"])


def test_carried_drops_streamlit_parameters_and_applies_changes() -> None:
    params = {"ds": ["d1"], "sid": ["s1"], "embed": ["true"], "cat": ["active"]}
    assert carried(params, sid=None, job="j1") == {"ds": ["d1"], "cat": ["active"], "job": ["j1"]}
    assert params["sid"] == ["s1"]  # the input is left as it was


def test_filter_widgets_become_parameters() -> None:
    lo, hi = datetime(2025, 3, 14, 0, 0), datetime(2025, 3, 15, 0, 0)
    params = {"ds": ["d1"], "cat": ["active"], "from": ["2025-03-14T01:00"], "q": ["old"]}
    whole_span = with_filters(params, {"cat": [], "wf": ["wf_a"]}, (lo, hi), (lo, hi), "  ")
    assert whole_span == {"ds": ["d1"], "wf": ["wf_a"]}
    narrowed = with_filters(
        params,
        {"cat": ["active"]},
        (datetime(2025, 3, 14, 6, 0), datetime(2025, 3, 14, 18, 0)),
        (lo, hi),
        " s1 ",
    )
    assert narrowed == {
        "ds": ["d1"],
        "cat": ["active"],
        "from": ["2025-03-14T06:00"],
        "to": ["2025-03-14T18:00"],
        "q": ["s1"],
    }
    assert "from" not in with_filters(params, {}, (lo, hi), None, "")


def test_time_bounds_are_whole_hours_around_the_data() -> None:
    first = datetime(2025, 3, 14, 8, 25, tzinfo=UTC)
    last = datetime(2025, 3, 14, 17, 5, tzinfo=UTC)
    assert time_bounds({"first": first, "last": last}) == (
        datetime(2025, 3, 14, 8),
        datetime(2025, 3, 14, 18),
    )
    assert time_bounds({"first": first, "last": first}) is None
    assert time_bounds({"first": None, "last": last}) is None
    assert naive_utc(datetime.fromisoformat("2025-03-14T10:00+02:00")) == datetime(2025, 3, 14, 8, 0)


@given(
    st.lists(st.sampled_from(["rate_limited", "ttl_expired", "active"]), unique=True),
    st.lists(st.from_regex(r"[A-Za-z0-9_]{1,20}", fullmatch=True), unique=True, max_size=3),
    st.text(max_size=MAX_SEARCH).filter(lambda t: t != ""),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)),
)
def test_any_valid_view_survives_a_round_trip(
    categories: list[str], workflows: list[str], search: str, start: datetime
) -> None:
    start = start.replace(second=0, microsecond=0, tzinfo=UTC)  # links carry minutes
    state = LinkState(
        dataset_id="d1",
        filters=Filters(categories=categories, workflows=workflows, search=search, start=start),
        session_id="s1",
    )
    again = parse_link(link_params(state))
    assert again.notices == []
    assert again == LinkState(dataset_id="d1", filters=state.filters, session_id="s1")


def test_notices_quote_rejected_values_as_short_inert_text():
    """A share link is anyone's text: its rejected values are echoed bounded, and never as a link,
    an image or markup (the notice goes to st.warning, which renders Markdown)."""
    from markdown_it import MarkdownIt

    image = "![x](http://127.0.0.1:9/leak.png)"
    state = parse_link(
        {
            "from": [image + "9" * 5000],
            "sid": ["`` [a](http://127.0.0.1:9/x) ``"],
            "wf": [image],
            image: ["1"],
        }
    )
    assert len(state.notices) == 4
    html = MarkdownIt("commonmark").render("\n".join(f"- {n}" for n in state.notices))
    assert "<img" not in html and "href" not in html
    assert all(len(n) < 200 for n in state.notices)
