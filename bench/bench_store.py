"""Store speed: save and load of 1k / 10k / 100k sessions, SQLite and (when reachable) PostgreSQL.

Run: `.venv/bin/python -m bench.bench_store [--sizes 1000,10000,100000] [--postgres URL] [--out FILE]`.
Writes a Markdown table (with machine info) to bench/results/store.md. The figure that matters is the
per-session cost at 100k relative to 1k: near 1 means the store scales linearly.

`--open` instead measures opening a Store (which runs the Alembic migrations) against what opening
cost before migrations (`metadata.create_all`), on a fresh and on an existing database, and writes
bench/results/store_open.md.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.machine import machine
from chatkit.domain.models import ChatKitSession
from chatkit.domain.sample import sample_sessions
from chatkit.store import Store, metadata
from chatkit.store.engine import create_engine

RESULTS = Path(__file__).resolve().parent / "results" / "store.md"
OPEN_RESULTS = RESULTS.with_name("store_open.md")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` runs (the store is fresh for each save: see callers)."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def bench_backend(url: str, sessions: list[ChatKitSession], repeat: int) -> dict[str, float]:
    store = Store(url)
    try:
        n = len(sessions)
        # Each save gets sessions with a fresh id prefix, so none is an idempotent no-op.
        variants = [[s.model_copy(update={"id": f"r{i}_{s.id}"}) for s in sessions] for i in range(repeat)]
        saved: list[str] = []
        save_s = timed(lambda: saved.append(store.save_dataset("bench", variants[len(saved)])), repeat)
        load_s = timed(lambda: store.load_dataset(saved[0]), repeat)
        resave_s = timed(lambda: store.save_dataset("bench", variants[0]), repeat)
        job_s = timed(lambda: store.create_job(None, [], sessions, provider="p", model="m"), repeat)
        record = store.load_dataset(saved[0])
        assert record is not None and len(record.sessions) == n
        return {"save": save_s, "load": load_s, "resave": resave_s, "job": job_s}
    finally:
        store.close()


def postgres_schema_url(url: str) -> tuple[str, Callable[[], None]] | None:
    admin = sa.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 2})
    schema = f"chatkit_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except Exception:  # noqa: BLE001 - no server: the table is SQLite only
        return None

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')

    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False), drop


def machine_info(pg_url: str | None) -> list[str]:
    info = machine() | {
        "SQLAlchemy": f"{sa.__version__}, SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL)"
    }
    lines = [f"- {k}: {v}" for k, v in info.items()]
    if pg_url:
        engine = sa.create_engine(pg_url, poolclass=NullPool)
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar()
        lines.append(f"- PostgreSQL {version} on the same machine (psycopg 3)")
    return lines


def _create_all(url: str) -> None:
    """What opening a store did before migrations: create the tables and indexes not yet there."""
    engine = create_engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def _open_store(url: str) -> None:
    Store(url).close()


def bench_open(fresh_url: Callable[[], tuple[str, Callable[[], None]]], repeat: int) -> dict[str, float]:
    """Median seconds: baseline and Store() on a fresh database, then both on one already at head."""
    result: dict[str, list[float]] = {
        "create_all fresh": [],
        "Store fresh": [],
        "create_all again": [],
        "Store again": [],
    }
    for _ in range(repeat):
        for kind, opener in (("create_all", _create_all), ("Store", _open_store)):
            url, cleanup = fresh_url()
            try:
                start = time.perf_counter()
                opener(url)
                result[f"{kind} fresh"].append(time.perf_counter() - start)
                if kind == "create_all":
                    _open_store(url)  # "again" compares both on a database at head
                start = time.perf_counter()
                opener(url)
                result[f"{kind} again"].append(time.perf_counter() - start)
            finally:
                cleanup()
    return {k: statistics.median(v) for k, v in result.items()}


def main_open(args: argparse.Namespace) -> None:
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:

        def sqlite_url() -> tuple[str, Callable[[], None]]:
            return f"sqlite:///{Path(tmp) / uuid.uuid4().hex}.db", lambda: None

        rows["SQLite"] = bench_open(sqlite_url, args.repeat)
    if args.postgres and postgres_schema_url(args.postgres) is not None:

        def pg_url() -> tuple[str, Callable[[], None]]:
            made = postgres_schema_url(args.postgres)
            assert made is not None
            return made

        rows["PostgreSQL"] = bench_open(pg_url, args.repeat)
    info = machine_info(args.postgres if "PostgreSQL" in rows else None)
    out = [
        "# Store speed: opening a store (Alembic migrations) against `create_all`",
        "",
        f"Measured by `bench/bench_store.py --open` (median of {args.repeat} runs). fresh = an empty",
        "database; again = one already at head. Baseline = `metadata.create_all` on a new engine, which",
        "is what opening a store did before the schema moved into migrations.",
        "",
        *info,
        "",
        "| backend | create_all fresh s | Store fresh s | ratio | create_all again s | Store again s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        out.append(
            f"| {name} | {r['create_all fresh']:.3f} | {r['Store fresh']:.3f} "
            f"| ×{r['Store fresh'] / r['create_all fresh']:.2f} | {r['create_all again']:.3f} "
            f"| {r['Store again']:.3f} | ×{r['Store again'] / r['create_all again']:.2f} |"
        )
        print(name, {k: f"{v:.3f}s" for k, v in r.items()}, flush=True)
    OPEN_RESULTS.write_text("\n".join(out) + "\n")
    print(f"wrote {OPEN_RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--open", action="store_true", help="measure opening a store instead")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="'' to skip PostgreSQL")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.open:
        main_open(args)
        return
    sizes = [int(x) for x in args.sizes.split(",")]

    pool = sample_sessions(max(sizes))
    pg = postgres_schema_url(args.postgres) if args.postgres else None
    rows: list[tuple[str, int, dict[str, float]]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            backends = {"SQLite": f"sqlite:///{Path(tmp) / 'bench.db'}"}
            if pg:
                backends["PostgreSQL"] = pg[0]
            for name, url in backends.items():
                for n in sizes:
                    repeat = args.repeat if n <= 10_000 else 1
                    result = bench_backend(url, pool[:n], repeat)
                    rows.append((name, n, result))
                    print(name, n, {k: f"{v:.3f}s" for k, v in result.items()}, flush=True)
        info = machine_info(args.postgres if pg else None)
    finally:
        if pg:
            pg[1]()

    out = [
        "# Store speed: save and load of data sets",
        "",
        "Measured by `bench/bench_store.py` (median of 3 runs up to 10k sessions, 1 run at 100k).",
        "save = `save_dataset` of new sessions; load = `load_dataset` (rows → validated",
        "`ChatKitSession`s); re-save = saving the same sessions again (hash + no-op insert);",
        "job = `create_job` over the sessions. µs/session is the time divided by the sessions.",
        "",
        *info,
        "",
        "| backend | sessions | save s | load s | re-save s | job s | save µs/session | load µs/session |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, n, r in rows:
        out.append(
            f"| {name} | {n:,} | {r['save']:.3f} | {r['load']:.3f} | {r['resave']:.3f} | {r['job']:.3f} "
            f"| {r['save'] / n * 1e6:.0f} | {r['load'] / n * 1e6:.0f} |"
        )
    out += ["", "Per-session cost at the largest size relative to the smallest (1.0 = linear):", ""]
    for name in dict.fromkeys(name for name, _, _ in rows):
        mine = {n: r for b, n, r in rows if b == name}
        small, large = min(mine), max(mine)
        for key in ("save", "load"):
            ratio = (mine[large][key] / large) / (mine[small][key] / small)
            out.append(f"- {name} {key}: {large:,} vs {small:,} sessions → ×{ratio:.2f} per session")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
