"""The Batch report page's parts: estimate, start, follow a job, its outcome and downloads, past jobs."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from chatkit.analytics import tables
from chatkit.domain.access import Action
from chatkit.domain.models import SessionReport, SummaryReport
from chatkit.domain.text import markdown_text
from chatkit.reports import export
from chatkit.reports.analyzer import LLMError, render_report_markdown, render_summary_markdown
from chatkit.store import JobRecord
from chatkit.web import exports
from chatkit.web.nav import page_link
from chatkit.web.setup import PageContext

_POLL_S = 1.0
_STATUS_LABEL = {
    "queued": "queued: waiting for a worker",
    "running": "running",
    "stopping": "stopping: finishing the sessions in flight",
    "stopped": "stopped: what was done is kept",
    "done": "done",
    "failed": "failed",
}


def batch_estimate(ctx: PageContext, count: int) -> str:
    if count == 0:
        return "No session chosen."
    if ctx.analyzer.offline:
        return f"{count:,} sessions; the offline analyzer takes a few seconds."
    minutes = count / max(1, ctx.settings.llm_requests_per_minute)
    return (
        f"{count:,} sessions at up to {ctx.settings.llm_requests_per_minute} LLM requests per minute: "
        f"about {minutes:,.0f} min, less for sessions already in the cache."
    )


def start_job(ctx: PageContext, session_ids: Sequence[str]) -> str:
    """Queue a job in the store (admins only, however the request was made); the worker picks it up."""
    assert ctx.dataset is not None
    ctx.require(Action.BATCH, dataset_id=ctx.dataset.id)
    job_id = ctx.store.create_job(
        ctx.dataset.id,
        list(session_ids),
        ctx.store.load_sessions(ctx.dataset.id, list(session_ids)),
        provider=ctx.analyzer.provider_name,
        model=ctx.analyzer.model,
        requested_by=ctx.identity.who,  # the worker's audit rows for this job name this person
    )
    ctx.audit(
        Action.BATCH,
        session_ids=list(session_ids),
        provider=ctx.analyzer.provider_name,
        model=ctx.analyzer.model,
        outcome="queued",
        detail=f"job {job_id}",
        dataset_id=ctx.dataset.id,
    )
    return job_id


def follow_job(ctx: PageContext, first: JobRecord) -> None:
    """Progress and partial results, polled by a fragment while the job runs.

    `first` is the job as the page read it this run: whether it still runs decides the polling.
    """
    job_id = first.id
    running = not first.finished

    @st.fragment(run_every=_POLL_S if running else None)
    def progress() -> None:
        job = ctx.store.get_job(job_id)
        if job is None:
            st.error("This job was deleted from the store.")
            return
        bar, stop = st.columns([6, 1], vertical_alignment="bottom")
        if (
            job.status in ("queued", "running")
            and ctx.may(Action.BATCH)
            and stop.button("Stop", icon=":material/stop_circle:")
        ):
            ctx.require(Action.BATCH, dataset_id=job.dataset_id)
            ctx.audit(
                Action.BATCH, outcome="stop_requested", detail=f"job {job_id}", dataset_id=job.dataset_id
            )
            ctx.store.request_stop(job_id)  # the worker finishes what is in flight and keeps it
            job = ctx.store.get_job(job_id) or job
        bar.progress(
            job.done / job.total if job.total else 1.0,
            text=f"**{job.done:,} of {job.total:,}** sessions · {_STATUS_LABEL.get(job.status, job.status)}"
            f" · {job.provider} / {job.model}",
        )
        if job.results:
            results = tables.job_results_table(job.results)
            st.dataframe(tables.download_safe(results), hide_index=True, width="stretch", height=300)
            exports.table_download(
                ctx,
                results,
                table=f"Batch results of job {job_id}",
                file_name=f"chatkit-batch-{job_id[:8]}-results.csv",
                key="dl_batch_results",
                dataset_id=job.dataset_id,
                label="Download these results (CSV)",
            )
        if running and job.finished:
            st.rerun()  # the whole page: stop polling, show the summary and downloads

    progress()


def job_outcome(ctx: PageContext, job: JobRecord) -> None:
    """A finished job: how it ended, its summary, and the downloads."""
    reports = [SessionReport.model_validate(r["report"]) for r in job.results if r.get("report")]
    errors = {r["session_id"]: r["error"] for r in job.results if r.get("error") and not r.get("report")}
    if job.status == "done":
        st.success(f"Done: {job.done:,} sessions analyzed.", icon=":material/check_circle:")
    elif job.status == "stopped":
        st.info(f"Stopped after {job.done:,} of {job.total:,} sessions; their results are kept below.")
    else:
        st.error(
            f"The job failed after {job.done:,} of {job.total:,} sessions: {markdown_text(job.error or 'no detail')}. "
            "Its results so far are kept; start a new batch to retry (finished sessions come from the cache).",
            icon=":material/error:",
        )
    summary = SummaryReport.model_validate(job.summary) if job.summary else None
    # A failed session keeps a report that only carries its error: nothing there to summarize.
    analyzed = [r for r in reports if not r.error]
    if summary is None and analyzed:
        memo_key = f"ui_summary:{job.id}:{job.done}"
        summary = st.session_state.get(memo_key)
        if (
            summary is None
            and ctx.may(Action.ANALYZE)
            and st.button(f"Summarize the {len(analyzed):,} finished sessions", icon=":material/summarize:")
        ):
            with st.spinner("Summarizing…"):
                summary = _summarize(ctx, job, analyzed)
            st.session_state[memo_key] = summary
    if summary is not None:
        with st.container(border=True):
            hosts = ctx.settings.render_link_allow_hosts
            st.markdown(tables.demoted(render_summary_markdown(summary, allow_hosts=hosts)))
    if reports or errors:
        _downloads(ctx, job, reports, errors, summary)


def _downloads(
    ctx: PageContext,
    job: JobRecord,
    reports: Sequence[SessionReport],
    errors: dict[str, str],
    summary: SummaryReport | None,
) -> None:
    sessions = {s.id: s for s in ctx.store.job_sessions(job.id)}
    facts = {
        "id": job.id,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "provider": job.provider,
        "model": job.model,
        "created_at": job.created_at.isoformat(),
    }
    hosts = ctx.settings.render_link_allow_hosts
    markdown = export.batch_markdown(
        render_summary_markdown(summary, allow_hosts=hosts) if summary else "_No summary was made._",
        [render_report_markdown(r, allow_hosts=hosts) for r in reports],
        errors=errors,
    )
    cols = st.columns(3)
    stem = f"chatkit-batch-{job.id[:8]}"
    # Each download is an export in the audit log (the click reruns the page; the file is already sent).
    audited = {"on_click": ctx.audit, "args": (Action.EXPORT,)}

    def about(kind: str) -> dict:
        return {**audited, "kwargs": {"detail": f"job {job.id}: {kind}", "dataset_id": job.dataset_id}}

    cols[0].download_button(
        "Report (Markdown)",
        markdown,
        f"{stem}.md",
        "text/markdown",
        icon=":material/download:",
        **about("Markdown report"),
    )
    cols[1].download_button(
        "Report (JSON)",
        export.batch_json(reports, summary, errors=errors, job=facts),
        f"{stem}.json",
        "application/json",
        icon=":material/download:",
        **about("JSON report"),
    )
    cols[2].download_button(
        "Per-session diagnosis (CSV)",
        export.reports_csv(reports, errors=errors, sessions=sessions),
        f"{stem}.csv",
        "text/csv",
        icon=":material/download:",
        **about("per-session CSV"),
    )


def _summarize(ctx: PageContext, job: JobRecord, reports: Sequence[SessionReport]) -> SummaryReport | None:
    ctx.require(Action.ANALYZE, dataset_id=job.dataset_id)
    done = {r.session_id for r in reports}
    sessions = [s for s in ctx.store.job_sessions(job.id) if s.id in done]
    try:
        return ctx.analyzer.summarize(sessions, reports)
    except LLMError as exc:
        st.error(
            f"The summary could not be made: {markdown_text(exc)}. Try again later.", icon=":material/error:"
        )
        return None


def past_jobs(ctx: PageContext, limit: int = 15) -> None:
    """The latest jobs; while one of them runs, the list polls so its count keeps up with the bar."""
    live = any(not job.finished for job in ctx.store.list_jobs(limit=limit))

    @st.fragment(run_every=_POLL_S * 2 if live else None)
    def listing() -> None:
        jobs = ctx.store.list_jobs(limit=limit)
        if not jobs:
            st.caption("No batch yet. Start one above; it will be listed here.")
            return
        names = {d.id: d.name for d in ctx.datasets}
        for job in jobs:
            params = {"job": job.id}
            if job.dataset_id in names:
                params["ds"] = job.dataset_id
            page_link(
                "batch",
                f"{job.created_at:%Y-%m-%d %H:%M} · "
                f"{markdown_text(names.get(job.dataset_id or '', 'deleted data set'))} · "
                f"{job.done:,}/{job.total:,} · {job.status} · {job.provider}",
                ":material/history:",
                params,
            )

    listing()
