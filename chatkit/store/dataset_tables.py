"""Data sets in the store: their sessions and the frames derived from them.

A data set saved from a file import (`chatkit.store.datasets.save_dataset`) is blobs only, in
`dataset_frames`: its facts frame, its session table and its raw records (parquet, one blob per file
and kind; `RECORDS_PREFIX`); a `ChatKitSession` is built from the records of its id when asked
(`load_session(s)`). Older data sets, and those saved from objects, hold one JSON row per session in
`dataset_sessions`; both kinds open the same way.

Row-level only, so opening a Store imports no pandas; building and reading parquet is
`chatkit.store.datasets`, imported when a data set of blobs is read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from chatkit.domain.models import ChatKitSession
from chatkit.store.engine import CHUNK, StoreEngine, chunks, now
from chatkit.store.schema import (
    analyses,
    dataset_frames,
    dataset_sessions,
    datasets_table,
    job_sessions_table,
    jobs,
)


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    name: str
    created_at: datetime
    source_files: list[str]
    session_count: int
    pinned: bool = False  # kept by retention


@dataclass(frozen=True)
class DatasetRecord(DatasetInfo):
    sessions: list[ChatKitSession] = field(default_factory=list)


def dataset_id_for(texts: Sequence[str]) -> str:
    """Content hash of a data set: the same sessions (in any order) give the same id."""
    digests = sorted(hashlib.sha256(text.encode()).hexdigest() for text in texts)
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()[:16]


# Rows are written only from `ChatKitSession.canonical_json()`, which is already secret-free: reading
# them back skips the model's secret stripping (a third of the cost of loading a session).
_STORED = {"secrets_stripped": True}


def stored_session(text: str) -> ChatKitSession:
    return ChatKitSession.model_validate_json(text, context=_STORED)


# `dataset_frames.version` of a data set's stored parts besides its facts frames (no migration: the
# table already holds a data set's derived bytes by name).
TABLE_VERSION = "table-1"  # the session table (TABLE_SCHEMA), one row per session in data set order
RECORDS_PREFIX = "records-1:"  # + a zero-padded ordinal: the raw records, in reading order


def _session_ids(tables: Iterable[bytes]) -> set[str]:
    """Every session id in these stored session tables (parquet, read only when there are some)."""
    ids: set[str] = set()
    for data in tables:
        from chatkit.store.datasets import table_ids  # pyarrow: only when such a data set exists

        ids.update(table_ids(bytes(data)))
    return ids


def _dataset_info(row: sa.RowMapping) -> DatasetInfo:
    return DatasetInfo(
        id=row["id"],
        name=row["name"],
        created_at=row["created_at"],
        source_files=list(row["source_files"] or []),
        session_count=row["session_count"],
        pinned=bool(row["pinned"]),
    )


class DatasetTables(StoreEngine):
    def save_dataset(
        self, name: str, sessions: Sequence[ChatKitSession], source_files: Sequence[str] = ()
    ) -> str:
        """Saving the same sessions again returns the same id and keeps the first name and date."""
        return self.insert_dataset(name, sessions, source_files)[0]

    def insert_dataset(
        self, name: str, sessions: Sequence[ChatKitSession], source_files: Sequence[str] = ()
    ) -> tuple[str, bool]:
        """As save_dataset, and whether this call stored it (False: it was there, in its first order)."""
        texts = [session.canonical_json() for session in sessions]
        dataset_id = dataset_id_for(texts)
        row = {
            "id": dataset_id,
            "name": name.strip() or "unnamed data set",
            "created_at": now(),
            "source_files": list(source_files),
            "session_count": len(texts),
        }
        with self._write() as conn:
            inserted = self._insert_new(conn, datasets_table, row, "id")
            if inserted:
                rows = [
                    {"dataset_id": dataset_id, "position": i, "session_id": s.id, "data": text}
                    for i, (s, text) in enumerate(zip(sessions, texts, strict=True))
                ]
                for chunk in chunks(rows):
                    conn.execute(dataset_sessions.insert(), chunk)
        return dataset_id, inserted

    def insert_blob_dataset(
        self,
        dataset_id: str,
        name: str,
        session_count: int,
        source_files: Sequence[str],
        blobs: dict[str, bytes],
    ) -> bool:
        """A data set held as blobs (`dataset_frames` rows by version), in one transaction; False when
        a data set of this id was there already (it keeps its first name, date and blobs)."""
        row = {
            "id": dataset_id,
            "name": name.strip() or "unnamed data set",
            "created_at": now(),
            "source_files": list(source_files),
            "session_count": session_count,
        }
        with self._write() as conn:
            inserted = self._insert_new(conn, datasets_table, row, "id")
            if inserted:
                created = now()
                for version, data in blobs.items():
                    blob = {"dataset_id": dataset_id, "version": version, "data": data, "created_at": created}
                    conn.execute(dataset_frames.insert(), blob)
        return inserted

    def load_records(self, dataset_id: str) -> list[bytes]:
        """The raw-records blobs of a data set saved from an import, in reading order ([] for a data
        set of session rows)."""
        t = dataset_frames
        query = (
            sa.select(t.c.data)
            .where(t.c.dataset_id == dataset_id, t.c.version.startswith(RECORDS_PREFIX, autoescape=True))
            .order_by(t.c.version)
        )
        with self._read() as conn:
            return [bytes(data) for data in conn.execute(query).scalars()]

    def _built(self, dataset_id: str, session_ids: Sequence[str] | None) -> list[ChatKitSession] | None:
        """Sessions built from the data set's raw records; None when it holds session rows instead."""
        blobs = self.load_records(dataset_id)
        if not blobs:
            return None
        from chatkit.store.datasets import sessions_from_blobs  # pandas and pyarrow: only when used

        return sessions_from_blobs(blobs, session_ids)

    def load_dataset(self, dataset_id: str) -> DatasetRecord | None:
        """The data set with every session as an object (all of them: for small data sets)."""
        info = self.dataset_info(dataset_id)
        if info is None:
            return None
        sessions = self.load_sessions(dataset_id)
        return DatasetRecord(**info.__dict__, sessions=sessions)

    def dataset_info(self, dataset_id: str) -> DatasetInfo | None:
        """The data set's name, date, files and size, without reading its sessions."""
        with self._read() as conn:
            row = (
                conn.execute(sa.select(datasets_table).where(datasets_table.c.id == dataset_id))
                .mappings()
                .first()
            )
        return None if row is None else _dataset_info(row)

    def load_session(self, dataset_id: str, session_id: str) -> ChatKitSession | None:
        """One session of a data set (built from its records, or one indexed row); the first by
        position if an id repeats."""
        built = self._built(dataset_id, [session_id])
        if built is not None:
            return built[0] if built else None
        t = dataset_sessions
        query = (
            sa.select(t.c.data)
            .where(t.c.dataset_id == dataset_id, t.c.session_id == session_id)
            .order_by(t.c.position)
            .limit(1)
        )
        with self._read() as conn:
            text = conn.execute(query).scalar()
        return None if text is None else stored_session(text)

    def load_sessions(
        self, dataset_id: str, session_ids: Sequence[str] | None = None
    ) -> list[ChatKitSession]:
        """The data set's sessions in data set order: all, or those whose id is in `session_ids`.

        Ids not in the data set are left out; an unknown data set gives [].
        """
        built = self._built(dataset_id, session_ids)
        if built is not None:
            return built
        t = dataset_sessions
        query = sa.select(t.c.position, t.c.data).where(t.c.dataset_id == dataset_id)
        with self._read() as conn:
            if session_ids is None:
                rows = list(conn.execute(query.order_by(t.c.position)))
            else:
                # Chunked: a backend caps the parameters of one statement (SQLite: 32,766).
                wanted = sorted(set(session_ids))
                rows = []
                for start in range(0, len(wanted), CHUNK):
                    chunk = wanted[start : start + CHUNK]
                    rows.extend(conn.execute(query.where(t.c.session_id.in_(chunk))))
                rows.sort(key=lambda r: r.position)
        return [stored_session(r.data) for r in rows]

    def list_datasets(self) -> list[DatasetInfo]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(datasets_table).order_by(datasets_table.c.created_at.desc())
            ).mappings()
            return [_dataset_info(row) for row in rows]

    def delete_dataset(self, dataset_id: str) -> None:
        """The data set, its sessions and every frame derived from it."""
        with self._write() as conn:
            conn.execute(dataset_frames.delete().where(dataset_frames.c.dataset_id == dataset_id))
            conn.execute(dataset_sessions.delete().where(dataset_sessions.c.dataset_id == dataset_id))
            conn.execute(datasets_table.delete().where(datasets_table.c.id == dataset_id))

    def set_pinned(self, dataset_id: str, pinned: bool) -> bool:
        """Pin (keep past retention) or unpin; False when there is no such data set."""
        t = datasets_table
        with self._write() as conn:
            changed = conn.execute(t.update().where(t.c.id == dataset_id).values(pinned=pinned)).rowcount
        return bool(changed)

    def purge_datasets_before(self, cutoff: datetime) -> list[DatasetInfo]:
        """Retention: delete every unpinned data set created before `cutoff`, with its sessions,
        frames and batch jobs, and the cached analyses of sessions no remaining data set holds.

        One write transaction: a data set pinned or imported meanwhile is either seen or not, never
        half deleted. Returns what was deleted (the caller audits it).
        """
        t = datasets_table
        with self._write() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.created_at < cutoff, t.c.pinned == sa.false())
            ).mappings()
            gone = [_dataset_info(row) for row in rows]
            ids = [d.id for d in gone]
            for chunk in chunks(ids):
                job_ids = list(
                    conn.execute(sa.select(jobs.c.id).where(jobs.c.dataset_id.in_(chunk))).scalars()
                )
                for job_chunk in chunks(job_ids):
                    conn.execute(
                        job_sessions_table.delete().where(job_sessions_table.c.job_id.in_(job_chunk))
                    )
                    conn.execute(jobs.delete().where(jobs.c.id.in_(job_chunk)))
                conn.execute(dataset_frames.delete().where(dataset_frames.c.dataset_id.in_(chunk)))
                conn.execute(dataset_sessions.delete().where(dataset_sessions.c.dataset_id.in_(chunk)))
                conn.execute(t.delete().where(t.c.id.in_(chunk)))
            # Analyses are keyed by session content, not data set: an old one goes when no data set
            # still holds its session (a newer import of the same session keeps it).
            held = sa.select(dataset_sessions.c.session_id)
            old = analyses.c.created_at < cutoff
            tables = conn.execute(
                sa.select(dataset_frames.c.data).where(dataset_frames.c.version == TABLE_VERSION)
            ).scalars()
            held_by_tables = _session_ids(tables)
            if not held_by_tables:
                conn.execute(analyses.delete().where(old, analyses.c.session_id.not_in(held)))
                return gone
            # Data sets of blobs hold their ids in their session table, not in rows SQL can see.
            candidates = conn.execute(
                sa.select(analyses.c.key, analyses.c.session_id).where(
                    old, analyses.c.session_id.not_in(held)
                )
            )
            keys = [key for key, session_id in candidates if session_id not in held_by_tables]
            for chunk in chunks(keys):
                conn.execute(analyses.delete().where(analyses.c.key.in_(chunk)))
        return gone

    # ---- derived frames --------------------------------------------------------------------------

    def save_frame(self, dataset_id: str, version: str, data: bytes) -> None:
        """Store (or replace) the serialized frame of a data set, built by code of `version`."""
        row = {"dataset_id": dataset_id, "version": version, "data": bytes(data), "created_at": now()}
        with self._write() as conn:
            self._upsert(conn, dataset_frames, row, ("dataset_id", "version"))

    def load_frame(self, dataset_id: str, version: str) -> bytes | None:
        """The bytes given to save_frame for this data set and version, or None."""
        t = dataset_frames
        query = sa.select(t.c.data).where(t.c.dataset_id == dataset_id, t.c.version == version)
        with self._read() as conn:
            data = conn.execute(query).scalar()
        return None if data is None else bytes(data)
