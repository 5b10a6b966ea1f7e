"""Background batch jobs: run, resume after a crash, stop, fail, and several workers on one store."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import StandInAnalyzer, make_sessions

from chatkit.domain.models import (
    SessionReport,
    SummaryReport,
)
from chatkit.store import Store
from chatkit.worker import BackgroundWorker, run_job, work_forever

TESTS_DIR = Path(__file__).resolve().parent


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_a_job_runs_to_done_with_results_and_a_summary(store: Store) -> None:
    sessions = make_sessions(6)
    analyzer = StandInAnalyzer(error_ids=["cksess_0002"])
    job_id = store.create_job(None, [], sessions, provider="standin", model="standin-1")
    assert store.claim_job("w1").id == job_id

    run_job(store, analyzer, job_id, "w1")

    job = store.get_job(job_id)
    assert job.status == "done" and job.done == job.total == 6 and job.error is None
    assert [r["session_id"] for r in job.results] == [s.id for s in sessions]
    failed = job.results[2]
    assert failed["error"] == "stand-in failure for this session"  # one failure, the batch went on
    assert SessionReport.model_validate(failed["report"]).body is None
    assert SessionReport.model_validate(job.results[0]["report"]).body.impact == "one conversation cut off"
    summary = SummaryReport.model_validate(job.summary)
    assert summary.total_sessions == 6 and summary.text == "6 reports over 6 sessions"
    audit, start = store.audit_log()
    assert (start["action"], start["outcome"], start["session_count"]) == ("batch_job", "running", 0)
    assert (audit["action"], audit["outcome"], audit["session_count"]) == ("batch_job", "done", 6)
    # No one asked for this job (created outside any face): its rows name the worker.
    assert audit["tokens"] == 5 * 10 + 5 and {start["actor"], audit["actor"]} == {"worker:w1"}


def test_a_job_cut_off_by_a_crash_resumes_with_only_the_remaining_sessions(
    open_store: Callable[..., Store],
) -> None:
    sessions = make_sessions(6)
    crashed = open_store(stale_after_s=0.3)
    job_id = crashed.create_job(None, [], sessions, provider="standin", model="standin-1")
    assert crashed.claim_job("worker-that-dies").id == job_id
    first = StandInAnalyzer()
    for session in sessions[:2]:  # the dead worker got this far, then the process was killed
        report = first.analyze(session)
        crashed.record_job_result(job_id, session.id, report.model_dump(mode="json"), None)
    crashed.close()

    assert open_store().claim_job("new-worker") is None  # by the default threshold it is still alive
    restarted = open_store(stale_after_s=0.3)
    time.sleep(0.4)
    claimed = restarted.claim_job("new-worker")
    assert claimed is not None and claimed.id == job_id and claimed.done == 2
    second = StandInAnalyzer()
    run_job(restarted, second, job_id, "new-worker")

    assert second.analyzed == [s.id for s in sessions[2:]]
    job = restarted.get_job(job_id)
    assert job.status == "done" and job.done == 6 and len(job.results) == 6
    assert SummaryReport.model_validate(job.summary).total_sessions == 6


def test_stop_ends_the_job_and_keeps_what_is_done(store: Store) -> None:
    analyzer = StandInAnalyzer(delay_s=0.05)
    job_id = store.create_job(None, [], make_sessions(40), provider="standin", model="standin-1")
    worker = BackgroundWorker(store, analyzer, poll_s=0.05).start()
    try:
        wait_for(lambda: store.get_job(job_id, with_results=False).done >= 3)
        store.request_stop(job_id)
        wait_for(lambda: store.get_job(job_id, with_results=False).status == "stopped")
    finally:
        worker.stop()
    job = store.get_job(job_id)
    assert 3 <= job.done < 40
    assert [r["session_id"] for r in job.results] == analyzer.analyzed  # nothing analyzed went unrecorded
    assert job.summary is None
    assert store.audit_log()[0]["outcome"] == "stopped"


def test_an_analyzer_error_fails_the_job_clearly_and_keeps_results(store: Store) -> None:
    job_id = store.create_job(None, [], make_sessions(5), provider="standin", model="standin-1")
    store.claim_job("w1")
    run_job(store, StandInAnalyzer(raise_after=2), job_id, "w1")
    job = store.get_job(job_id)
    assert job.status == "failed"
    assert job.error == "analysis failed: RuntimeError: provider rejected the key (401)"
    assert job.done == 2 and len(job.results) == 2


def test_run_job_needs_the_job_claimed_by_that_worker(store: Store) -> None:
    job_id = store.create_job(None, [], make_sessions(2), provider="standin", model="standin-1")
    analyzer = StandInAnalyzer()
    with pytest.raises(ValueError, match="not claimed by worker 'w1'"):
        run_job(store, analyzer, job_id, "w1")
    store.claim_job("w2")
    with pytest.raises(ValueError, match="not claimed"):
        run_job(store, analyzer, job_id, "w1")
    assert analyzer.analyzed == [] and store.get_job(job_id).worker_id == "w2"


def test_a_summary_error_still_finishes_the_job(store: Store) -> None:
    class NoSummary(StandInAnalyzer):
        def summarize(self, sessions, reports=None):  # type: ignore[no-untyped-def]
            raise TimeoutError("summary timed out")

    job_id = store.create_job(None, [], make_sessions(2), provider="standin", model="standin-1")
    store.claim_job("w1")
    run_job(store, NoSummary(), job_id, "w1")
    job = store.get_job(job_id)
    assert (job.status, job.done, job.summary) == ("done", 2, None)
    assert job.error == "summary could not be made: TimeoutError: summary timed out"


def test_stopping_a_worker_hands_its_job_back_for_another_to_finish(store: Store) -> None:
    job_id = store.create_job(None, [], make_sessions(30), provider="standin", model="standin-1")
    first = StandInAnalyzer(delay_s=0.03)
    worker = BackgroundWorker(store, first, poll_s=0.05, worker_id="first").start()
    wait_for(lambda: store.get_job(job_id, with_results=False).done >= 2)
    worker.stop()
    job = store.get_job(job_id, with_results=False)
    assert job.status == "queued" and job.worker_id is None and 2 <= job.done < 30

    second = StandInAnalyzer()
    stop = threading.Event()
    thread = threading.Thread(target=work_forever, args=(store, second, "second", 0.05, stop))
    thread.start()
    try:
        wait_for(lambda: store.get_job(job_id, with_results=False).status == "done")
    finally:
        stop.set()
        thread.join()
    assert sorted(first.analyzed + second.analyzed) == sorted(s.id for s in make_sessions(30))


def test_the_background_worker_is_one_per_store_and_start_is_idempotent(store: Store) -> None:
    analyzer = StandInAnalyzer()
    worker = BackgroundWorker.shared(store, analyzer, poll_s=0.05)
    try:
        assert BackgroundWorker.shared(store, StandInAnalyzer()) is worker
        worker.start()
        worker.start()
        names = [t.name for t in threading.enumerate() if t.name == f"chatkit-worker-{worker.worker_id}"]
        assert names == [f"chatkit-worker-{worker.worker_id}"]
        job_id = store.create_job(None, [], make_sessions(3), provider="standin", model="standin-1")
        wait_for(lambda: store.get_job(job_id, with_results=False).status == "done")
    finally:
        worker.stop()
    assert not worker.alive
    assert BackgroundWorker.shared(store, analyzer) is not worker  # a stopped worker is replaced


def _many_jobs(store: Store, jobs_n: int, per_job: int) -> list[str]:
    return [
        store.create_job(None, [], make_sessions(per_job, f"job{j}_"), provider="standin", model="standin-1")
        for j in range(jobs_n)
    ]


@pytest.mark.postgres
def test_two_worker_threads_on_postgres_never_share_a_job(postgres_store_url: str) -> None:
    setup = Store(postgres_store_url)
    job_ids = _many_jobs(setup, jobs_n=8, per_job=4)
    analyzers = {name: StandInAnalyzer(delay_s=0.03) for name in ("a", "b")}
    stores = {name: Store(postgres_store_url) for name in analyzers}  # each worker its own engine
    stop = threading.Event()
    threads = [
        threading.Thread(target=work_forever, args=(stores[n], analyzers[n], f"worker-{n}", 0.02, stop))
        for n in analyzers
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: all(setup.get_job(j, with_results=False).status == "done" for j in job_ids))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    analyzed = analyzers["a"].analyzed + analyzers["b"].analyzed
    assert sorted(analyzed) == sorted(s.id for j in range(8) for s in make_sessions(4, f"job{j}_"))
    owners = {setup.get_job(j).worker_id for j in job_ids}
    assert owners == {"worker-a", "worker-b"}  # SKIP LOCKED: the second worker never waited
    for job_id in job_ids:  # a job's sessions were all analyzed by the worker that owned it
        job = setup.get_job(job_id)
        mine = set(analyzers[job.worker_id[-1]].analyzed)
        assert {r["session_id"] for r in job.results} <= mine
    for s in (setup, *stores.values()):
        s.close()


WORKER_PROCESS = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from support import StandInAnalyzer
from chatkit.worker import run_job
from chatkit.store import Store

store = Store({url!r})
analyzer = StandInAnalyzer(delay_s=0.05, log_path=Path({log!r}))
print("ready", flush=True)
while not Path({go!r}).exists():
    time.sleep(0.01)
while (job := store.claim_job({name!r})) is not None:
    run_job(store, analyzer, job.id, {name!r})
store.close()
"""


@pytest.mark.postgres
def test_two_worker_processes_on_postgres_never_share_a_job(postgres_store_url: str, tmp_path: Path) -> None:
    setup = Store(postgres_store_url)
    job_ids = _many_jobs(setup, jobs_n=8, per_job=3)
    go = tmp_path / "go"
    procs = {}
    for name in ("p1", "p2"):
        code = WORKER_PROCESS.format(
            tests=str(TESTS_DIR),
            url=postgres_store_url,
            log=str(tmp_path / f"{name}.log"),
            go=str(go),
            name=name,
        )
        procs[name] = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    try:
        for proc in procs.values():
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        go.touch()  # both start claiming at the same moment
        for proc in procs.values():
            assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        for proc in procs.values():
            proc.kill()
    logs = {name: (tmp_path / f"{name}.log").read_text().split() for name in procs}
    analyzed = logs["p1"] + logs["p2"]
    assert sorted(analyzed) == sorted(s.id for j in range(8) for s in make_sessions(3, f"job{j}_"))
    jobs = [setup.get_job(j) for j in job_ids]
    assert all(job.status == "done" and job.done == 3 for job in jobs)
    assert {job.worker_id for job in jobs} == {"p1", "p2"}
    for job in jobs:
        assert {r["session_id"] for r in job.results} <= set(logs[job.worker_id])
    setup.close()


def test_results_hold_no_secrets(store: Store) -> None:
    job_id = store.create_job(None, [], make_sessions(2), provider="standin", model="standin-1")
    store.claim_job("w1")
    run_job(store, StandInAnalyzer(), job_id, "w1")
    dumped = json.dumps([store.get_job(job_id).results, store.get_job(job_id).summary])
    assert "supersecretvalue" not in dumped and "client_secret" not in dumped


# ---- with the real analyzer --------------------------------------------------------------------------


def test_a_job_with_the_real_offline_analyzer(store: Store) -> None:
    from chatkit.domain.sample import sample_sessions
    from chatkit.reports.analyzer import ChatKitAnalyzer
    from chatkit.settings import Settings

    sessions = sample_sessions(12)
    analyzer = ChatKitAnalyzer(Settings(_env_file=None, llm_provider="offline"), store=store)
    job_id = store.create_job(None, [], sessions, provider=analyzer.provider_name, model=analyzer.model)
    store.claim_job("w1")
    run_job(store, analyzer, job_id, "w1")

    job = store.get_job(job_id)
    assert job.status == "done" and job.done == 12 and job.error is None
    reports = [SessionReport.model_validate(r["report"]) for r in job.results]
    assert [r.session_id for r in reports] == [s.id for s in sessions]
    assert all(r.body is not None and r.error is None for r in reports)
    summary = SummaryReport.model_validate(job.summary)
    assert summary.total_sessions == 12 and sum(summary.counts_by_category.values()) == 12
    assert store.audit_log()[0]["action"] == "batch_job"


def test_stop_and_rerun_against_an_llm_server_reuse_the_cache(store: Store, fake_llm, llm_settings) -> None:
    """Real HTTP through the real `openai` client: stop mid-way, then the done sessions cost no call."""
    from chatkit.domain.sample import sample_sessions
    from chatkit.reports.analyzer import ChatKitAnalyzer

    fake_llm.latency_s = 0.1
    sessions = sample_sessions(30)
    analyzer = ChatKitAnalyzer(llm_settings(llm_concurrency=2), store=store)
    job_id = store.create_job(None, [], sessions, provider=analyzer.provider_name, model=analyzer.model)
    worker = BackgroundWorker(store, analyzer, poll_s=0.05).start()
    try:
        wait_for(lambda: store.get_job(job_id, with_results=False).done >= 4)
        store.request_stop(job_id)
        wait_for(lambda: store.get_job(job_id, with_results=False).status == "stopped")
        stopped = store.get_job(job_id)
        assert 4 <= stopped.done < 30 and len(stopped.results) == stopped.done
        assert all(r["error"] is None for r in stopped.results)
        calls_before = len(fake_llm.requests)
        assert calls_before <= stopped.done + 2  # at most the requests in flight were wasted

        rerun = store.create_job(None, [], sessions, provider=analyzer.provider_name, model=analyzer.model)
        wait_for(lambda: store.get_job(rerun, with_results=False).status == "done", timeout_s=30)
    finally:
        worker.stop()
    job = store.get_job(rerun)
    from_cache = [r["session_id"] for r in job.results if r["report"]["from_cache"]]
    assert set(from_cache) >= {r["session_id"] for r in stopped.results}
    assert "sk-test-SECRET" not in json.dumps(
        [job.results, job.summary, store.audit_log(limit=200)], default=str
    )


def test_every_audit_row_of_a_job_names_whoever_queued_it_not_the_worker(
    store: Store, fake_llm, llm_settings
) -> None:
    from chatkit.domain.sample import sample_sessions
    from chatkit.reports.analyzer import ChatKitAnalyzer

    analyzer = ChatKitAnalyzer(llm_settings(llm_concurrency=2), store=store)
    job_id = store.create_job(
        "ds-1",
        [],
        sample_sessions(4),
        provider=analyzer.provider_name,
        model=analyzer.model,
        requested_by="alice@example.com",
    )
    assert store.get_job(job_id).requested_by == "alice@example.com"
    worker = BackgroundWorker(store, analyzer, poll_s=0.05, worker_id="w-alice").start()
    try:
        wait_for(lambda: store.get_job(job_id, with_results=False).status == "done", timeout_s=30)
    finally:
        worker.stop()
    log = list(reversed(store.audit_log(limit=100)))  # oldest first
    assert [(r["action"], r["outcome"]) for r in log[:1] + log[-2:]] == [
        ("batch_job", "running"),
        ("summarize", "ok"),
        ("batch_job", "done"),
    ]
    assert [r["action"] for r in log[1:-2]] == ["analyze"] * 4 and len(fake_llm.requests) == 5
    assert {r["actor"] for r in log} == {"alice@example.com"}
    assert "run by worker w-alice" in log[0]["detail"] and "run by worker w-alice" in log[-1]["detail"]
    assert {r["dataset_id"] for r in (log[0], log[-1])} == {"ds-1"}


def test_a_job_queued_while_acting_for_someone_is_theirs(store: Store) -> None:
    from chatkit.store import acting_as

    with acting_as("token:ci"):
        job_id = store.create_job(None, [], make_sessions(1), provider="standin", model="standin-1")
    assert store.get_job(job_id).requested_by == "token:ci"
    store.claim_job("w1")
    run_job(store, StandInAnalyzer(), job_id, "w1")
    assert {r["actor"] for r in store.audit_log()} == {"token:ci"}


def test_a_rejected_key_fails_the_job_clearly(store: Store, fake_llm, llm_settings) -> None:
    from support.fakellm import unauthorized

    from chatkit.domain.sample import sample_sessions
    from chatkit.reports.analyzer import ChatKitAnalyzer

    fake_llm.push(*[unauthorized() for _ in range(10)])
    analyzer = ChatKitAnalyzer(llm_settings(llm_concurrency=1), store=store)
    job_id = store.create_job(
        None, [], sample_sessions(5), provider=analyzer.provider_name, model=analyzer.model
    )
    store.claim_job("w1")
    run_job(store, analyzer, job_id, "w1")
    job = store.get_job(job_id)
    assert job.status == "failed" and job.done == 5
    assert job.error.startswith("every session failed; the first error:")
    assert "sk-test-SECRET" not in job.error


class SlowResultStore(Store):
    """A store whose job-result writes take ~2 s each, as one contended SQLite write can."""

    def record_job_result(self, *args, **kwargs) -> None:
        time.sleep(2.0)
        super().record_job_result(*args, **kwargs)


def test_a_slow_result_write_does_not_delay_the_llm_calls_in_flight(
    tmp_path: Path, fake_llm, llm_settings
) -> None:
    """Defect 4: the per-session progress callback wrote to the store on the analyzer's event loop,
    so each write stalled every LLM call. Now the calls go on while the writes queue in a thread."""
    from chatkit.reports.analyzer import ChatKitAnalyzer

    store = SlowResultStore(f"sqlite:///{tmp_path / 'chatkit.db'}")
    fake_llm.latency_s = 0.1
    analyzer = ChatKitAnalyzer(llm_settings(llm_concurrency=1), store=store)
    job_id = store.create_job(
        None, [], make_sessions(3), provider=analyzer.provider_name, model=analyzer.model
    )
    store.claim_job("w1")
    run_job(store, analyzer, job_id, "w1")
    job = store.get_job(job_id)
    assert job.status == "done" and job.done == 3
    sessions_calls = fake_llm.arrivals()[:3]  # the fourth is the summary, after every result is written
    assert len(fake_llm.completions) == 4
    assert sessions_calls[-1] - sessions_calls[0] < 1.5  # one blocked write on the loop would cost 2 s
