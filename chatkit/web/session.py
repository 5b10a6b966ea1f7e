"""The Session page's parts: the session picker, the diagnosis card, the report and its facts."""

from __future__ import annotations

from typing import Literal

import streamlit as st
from pydantic import ValidationError

from chatkit.analytics import tables
from chatkit.domain.access import Action
from chatkit.domain.models import ChatKitSession, Diagnosis, SessionReport
from chatkit.domain.text import markdown_code, markdown_text
from chatkit.reports.analyzer import LLMAuthError, LLMError
from chatkit.web import caches, state
from chatkit.web.setup import PageContext
from chatkit.web.widgets import PICK_LIMIT

_W_SESSION = "ui_session"


def session_picker(ctx: PageContext) -> None:
    """A searchable pick of the filtered sessions (any id can be typed); the choice goes to the URL."""
    assert ctx.dataset is not None
    df = caches.filtered_frame(ctx.dataset.id, ctx.filters_json, ctx.store)
    ids = df["session_id"].head(PICK_LIMIT).tolist()
    if ctx.session_id and ctx.session_id not in ids:
        ids.insert(0, ctx.session_id)
    labels = dict(
        zip(df["session_id"].head(PICK_LIMIT), tables.picker_labels(df.head(PICK_LIMIT)), strict=True)
    )
    st.session_state[_W_SESSION] = ctx.session_id
    shown = f"the first {PICK_LIMIT:,} of " if len(df) > PICK_LIMIT else ""
    st.selectbox(
        f"Session ({shown}{len(df):,} matching the filters; type any id)",
        ids,
        key=_W_SESSION,
        format_func=lambda i: labels.get(i, i),
        placeholder="Type or pick a session id",
        accept_new_options=True,
        on_change=_on_session_change,
    )


def _on_session_change() -> None:
    chosen = (st.session_state.get(_W_SESSION) or "").strip()
    state.replace_params(state.carry_params(sid=chosen or None))


def chosen_session(ctx: PageContext) -> ChatKitSession | None:
    """The session the link names, from the chosen data set; None when it is not there."""
    assert ctx.dataset is not None and ctx.session_id is not None
    return caches.session_by_id(ctx.dataset.id, ctx.session_id, ctx.store)


_SEVERITY_COLOR: dict[str, Literal["red", "orange", "blue"]] = {
    "critical": "red",
    "warning": "orange",
    "info": "blue",
}


def diagnosis_card(diagnosis: Diagnosis) -> None:
    st.badge(
        f"{diagnosis.category.value} · {diagnosis.severity.value} · confidence {diagnosis.confidence:.0%}",
        color=_SEVERITY_COLOR.get(diagnosis.severity.value, "gray"),
    )
    # Evidence quotes the session's own `reason`: shown literally, never as Markdown.
    st.markdown("\n".join(f"- {markdown_text(e)}" for e in diagnosis.evidence) or "_No evidence recorded._")
    if diagnosis.missing_fields:
        fields = ", ".join(markdown_code(f) for f in diagnosis.missing_fields)
        st.caption("Fields that would decide it: " + fields)
    for flag in diagnosis.flags:
        st.warning(markdown_text(flag), icon=":material/flag:")


def session_report(ctx: PageContext, session: ChatKitSession, *, fresh: bool) -> SessionReport | None:
    """The analyzer's report (its own cache makes repeats free); errors say what to do next."""
    # The last report shown, so a widget rerun does not ask again; one entry, so the memo cannot grow.
    memo_key = (ctx.analyzer.provider_name, ctx.analyzer.model, session.content_hash())
    memo = st.session_state.get("ui_report")
    report = memo[1] if memo and memo[0] == memo_key and not fresh else None
    if report is None and not ctx.analyzer.offline and not ctx.may(Action.ANALYZE):
        # LLM calls cost money: a viewer sees a report an admin already paid for, or the rules' diagnosis.
        report = _cached_report(ctx, session)
        if report is None:
            st.info(
                "No LLM report for this session yet; only admins can run one. The rule engine's "
                "diagnosis is above.",
                icon=":material/lock:",
            )
            return None
    if report is None:
        dataset_id = ctx.dataset.id if ctx.dataset else None
        if not ctx.analyzer.offline:  # the rule engine's report is free: reading, not analyzing
            ctx.require(Action.REANALYZE if fresh else Action.ANALYZE, dataset_id=dataset_id)
        if fresh:
            ctx.audit(
                Action.REANALYZE,
                session_ids=[session.id],
                provider=ctx.analyzer.provider_name,
                model=ctx.analyzer.model,
                dataset_id=dataset_id,
            )
        try:
            with st.spinner(f"Analyzing with {ctx.analyzer.provider_name}…"):
                report = ctx.analyzer.analyze(session, use_cache=not fresh)
        except LLMAuthError:
            st.error(
                "The LLM endpoint rejected the API key (401). Check `LLM_API_KEY` and `LLM_BASE_URL` "
                "(see the Settings page), or unset the key to use the offline analyzer.",
                icon=":material/key_off:",
            )
            return None
        except LLMError as exc:
            st.error(
                f"The analysis failed: {markdown_text(exc)}. Try again in a minute.", icon=":material/error:"
            )
            return None
        st.session_state["ui_report"] = (memo_key, report)
    if report.error:  # on every run, also when the report comes from the memo
        st.warning(
            f"The LLM could not analyze this session ({markdown_text(report.error)}); the rule engine's diagnosis is "
            "shown. Try **Analyze again** later.",
            icon=":material/warning:",
        )
    return report


def _cached_report(ctx: PageContext, session: ChatKitSession) -> SessionReport | None:
    row = ctx.analyzer.cache.get_analysis(ctx.analyzer.cache_key(session))
    if row is None:
        return None
    try:
        return SessionReport.model_validate(row).model_copy(update={"from_cache": True})
    except ValidationError:
        return None


def report_meta(report: SessionReport) -> None:
    cols = st.columns(6)
    cols[0].metric("Provider", report.provider)
    cols[1].metric("Model", report.model)
    cols[2].metric("Tokens", f"{report.usage.total_tokens:,}")
    cols[3].metric("From cache", "yes" if report.from_cache else "no")
    # json_schema | json_object | text | offline: how strictly the answer's shape was enforced
    cols[4].metric("Answer", report.answer_mode or "unknown")
    check = report.fact_check
    cols[5].metric("Fact check", f"{check.count} finding(s)" if check.checked else "not needed")
