"""The dronewatch store: SQLite (default) or PostgreSQL through one SQLAlchemy 2 schema.

``Store.open(url)`` connects, runs the alembic migrations shipped in this package and returns a
store whose methods are safe to call from several threads (the pipeline's background writer and
the API's request threads). Writes come in batches (``WriteBatch``) and go in with executemany.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from dronewatch.sources.live import BatchKey
from dronewatch.store import models as m
from dronewatch.store.records import OBSERVATION_COLUMNS, POSITION_COLUMNS, dumps
from dronewatch.track.rf_locate import RF_FIELDS

log = logging.getLogger(__name__)

DEFAULT_DB_PATH = Path("dronewatch-data") / "dronewatch.db"
TRAIL_POINTS = 50

BBox = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


class StoreError(RuntimeError):
    """The database refused a write or a read (locked, full, unreachable...)."""


class StoreUnavailable(StoreError):
    """The database cannot take the write now (locked, full, read-only, unreachable): the
    same write may succeed later."""


class StoreRejected(StoreError):
    """The database refuses something in the batch (a value it cannot store): writing the
    same batch again cannot help; :meth:`Store.bad_rows` finds what."""


def _driver_error(exc: BaseException) -> BaseException:
    if isinstance(exc, sa.exc.StatementError) and exc.orig is not None:
        return exc.orig
    return exc


def _is_data_error(exc: BaseException) -> bool:
    """A value the database (or its driver) cannot store, as opposed to a database that
    cannot write now. Unknown errors count as "cannot write now": retried, nothing dropped."""
    orig = _driver_error(exc)
    if isinstance(orig, sqlite3.OperationalError):  # locked, full, read-only, I/O
        return False
    if isinstance(orig, sqlite3.Error):  # integrity (NaN in NOT NULL), binding a bad type
        return True
    if type(orig).__module__.startswith("psycopg"):
        import psycopg

        return isinstance(orig, psycopg.DataError | psycopg.IntegrityError | psycopg.ProgrammingError)
    return isinstance(orig, ValueError | TypeError | OverflowError | UnicodeError) or isinstance(
        exc, sa.exc.DataError | sa.exc.IntegrityError
    )


def store_error(exc: BaseException, what: str = "database write failed") -> StoreError:
    """``exc`` (SQLAlchemy's, or a driver's own: the COPY path is the driver's) as a
    :class:`StoreRejected` or :class:`StoreUnavailable` with a readable message."""
    orig = _driver_error(exc)
    cls = StoreRejected if _is_data_error(exc) else StoreUnavailable
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else repr(orig)
    return cls(f"{what}: {orig.__class__.__name__}: {text[:300]}")


def database_url(db: str | Path | None) -> str:
    """The SQLAlchemy URL for ``--db``: a file path, ``sqlite:///...`` or ``postgresql://...``.

    PostgreSQL URLs get the psycopg 3 driver; a file path becomes an absolute SQLite URL and
    its directory is created.
    """
    if db is None:
        db = DEFAULT_DB_PATH
    text = str(db)
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    if text.startswith(("postgresql+", "sqlite:")):
        return text
    if "://" in text:
        raise ValueError(
            f"unsupported database URL {text!r}: use a file, sqlite:/// or postgresql://"
        )
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


POSTGRES_EXTRA_HINT = "pip install 'dronewatch[postgres]'"


def _require_postgres_driver(url: str) -> None:
    """``StoreError`` naming the extra when a PostgreSQL URL is used without psycopg (the
    driver is the optional extra ``dronewatch[postgres]``; the SQLite default needs none)."""
    if not url.startswith("postgresql+psycopg"):
        return
    import importlib.util

    if importlib.util.find_spec("psycopg") is None:
        raise StoreError(
            "a postgresql:// database needs the PostgreSQL driver (psycopg), which is not "
            f"installed: {POSTGRES_EXTRA_HINT}"
        )


def _bind_none_fast() -> None:
    """Make the sqlite3 module bind ``None`` (SQL NULL) cheaply: unregistered, every ``None``
    parameter goes through its adaptation protocol (a key tuple, a registry miss, two
    attribute look-ups: ~0.25 us), which made the NULLs of a mostly empty ``observations``
    row (28 columns) two thirds of its insert. A registered adapter is found at the first
    step; this one (a C ``dict.get``) returns ``None``, bound as NULL exactly as before.
    Process-wide (sqlite3 adapters are), and the same values for every connection."""
    sqlite3.register_adapter(type(None), _NONE_TO_NULL)


_NONE_TO_NULL: Callable[[Any], Any] = {}.get  # C-level: None -> None (-> NULL)


def _sqlite_pragmas(busy_timeout_s: float) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


@dataclass(slots=True)
class SensorSeen:
    first_seen: float
    last_seen: float
    frames: int = 0


@dataclass(slots=True)
class WriteBatch:
    """What the pipeline writes in one transaction."""

    observations: list[tuple[Any, ...]] = field(default_factory=list)  # OBSERVATION_COLUMNS
    positions: list[tuple[Any, ...]] = field(default_factory=list)  # POSITION_COLUMNS
    tracks: dict[str, dict[str, Any]] = field(default_factory=dict)  # latest state per track
    alerts: list[dict[str, Any]] = field(default_factory=list)  # alert events, in order
    sensors: dict[str, SensorSeen] = field(default_factory=dict)
    # Called once the batch is committed, in order: the live sources' acknowledgements of
    # the frames whose rows it holds (an MQTT broker forgets a message only then), and the
    # alert events (shown once stored).
    acks: list[Callable[[], None]] = field(default_factory=list)
    # The sensor batches whose observations it holds: (key, first row, end row) in
    # ``observations``. A key already in the store is a redelivery: its rows are skipped.
    keys: list[tuple[BatchKey, int, int]] = field(default_factory=list)
    # Events owed to durable sinks (webhooks), committed with the alerts they carry:
    # ``store.outbox.outbox_row`` dicts.
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.observations) + len(self.positions) + len(self.tracks) + len(self.alerts)

    def drop_observations(self, rows: Iterable[int]) -> None:
        """Remove the observation rows at these indices (keeping the keys' ranges right)."""
        gone = sorted(set(rows))
        if not gone:
            return
        keep = set(range(len(self.observations))).difference(gone)
        self.observations = [r for i, r in enumerate(self.observations) if i in keep]

        def shift(i: int) -> int:  # new index of old index i: i minus dropped rows before it
            lo, hi = 0, len(gone)
            while lo < hi:
                mid = (lo + hi) // 2
                if gone[mid] < i:
                    lo = mid + 1
                else:
                    hi = mid
            return i - lo

        self.keys = [(k, shift(a), shift(b)) for k, a, b in self.keys]

    def merge(self, other: WriteBatch) -> None:
        base = len(self.observations)
        self.keys.extend((k, a + base, b + base) for k, a, b in other.keys)
        self.observations.extend(other.observations)
        self.positions.extend(other.positions)
        self.tracks.update(other.tracks)
        self.alerts.extend(other.alerts)
        self.acks.extend(other.acks)
        self.outbox.extend(other.outbox)
        for sid, seen in other.sensors.items():
            mine = self.sensors.get(sid)
            if mine is None:
                self.sensors[sid] = SensorSeen(seen.first_seen, seen.last_seen, seen.frames)
            else:
                mine.first_seen = min(mine.first_seen, seen.first_seen)
                mine.last_seen = max(mine.last_seen, seen.last_seen)
                mine.frames += seen.frames


_TRACK_COLUMNS = [c.name for c in m.tracks.columns]
_ALERT_UPDATE = [
    "rule",
    "severity",
    "status",
    "time",
    "message",
    "uas_id",
    "serial",
    "zone",
    "lat",
    "lon",
    "alt",
    "operator_lat",
    "operator_lon",
    "details",
]
_OBS_COLUMNS = [c.name for c in m.observations.columns if c.name != "id"]


class Store:
    """Repository over the dronewatch schema. Thread-safe (one pooled connection per call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect: str = engine.dialect.name
        # The statements every batch write runs, built once (not per transaction).
        self._stmt_tracks = self._tracks_upsert()
        self._stmt_sensors = self._sensors_upsert()
        self._stmt_n_positions = (
            m.tracks.update()
            .where(m.tracks.c.track_id == sa.bindparam("tid"))
            .values(n_positions=m.tracks.c.n_positions + sa.bindparam("n"))
        )

    # ---- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(
        cls, db: str | Path | None = None, *, migrate: bool = True, busy_timeout_s: float = 5.0
    ) -> Store:
        """Connect to ``db`` (see :func:`database_url`) and migrate the schema to the newest
        revision. ``busy_timeout_s``: how long SQLite waits for a lock before failing."""
        url = database_url(db)
        if url.startswith("sqlite"):
            engine = sa.create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
                pool_size=8,
                max_overflow=8,
                json_serializer=dumps,
            )
            sa.event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
            _bind_none_fast()
        else:
            _require_postgres_driver(url)
            engine = sa.create_engine(
                url, pool_size=8, max_overflow=8, pool_pre_ping=True, json_serializer=dumps
            )
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option(
            "script_location", str(resources.files("dronewatch.store") / "migrations")
        )
        cfg.set_main_option("sqlalchemy.url", self.engine.url.render_as_string(hide_password=False))
        return cfg

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` (alembic ``upgrade``)."""
        cfg = self.alembic_config()
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def schema_revision(self) -> str | None:
        with self.engine.connect() as conn:
            insp = sa.inspect(conn)
            if not insp.has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    # ---- writes ----------------------------------------------------------------------------

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def write(self, batch: WriteBatch) -> int:
        """Write one batch in one transaction; the number of its sensor batches that were
        already stored (redeliveries: their observations are not written again).

        ``StoreUnavailable`` if the database cannot write now, ``StoreRejected`` if it refuses
        a value in the batch (nothing is written either way)."""
        try:
            with self.engine.begin() as conn:
                return self._write(conn, batch)
        except Exception as exc:  # SQLAlchemy's and the drivers' own (COPY), data errors too
            raise store_error(exc) from exc

    def committed_seqs(self, sensor_id: str, session: str, from_seq: int = 0) -> set[int]:
        """The numbers of the batches of a sensor's session that are stored (from ``from_seq``)."""
        b = m.ingest_batches
        stmt = sa.select(b.c.seq).where(
            b.c.sensor_id == sensor_id, b.c.session == session, b.c.seq >= from_seq
        )
        try:
            with self.engine.connect() as conn:
                return {int(seq) for seq in conn.execute(stmt).scalars()}
        except Exception as exc:
            raise store_error(exc, "database read failed") from exc

    def bad_rows(self, batch: WriteBatch) -> dict[str, list[tuple[int, str]]]:
        """What in ``batch`` the database refuses: ``{part: [(index, reason)]}`` for the parts
        ``observations``, ``positions``, ``tracks``, ``alerts``, ``sensors`` (indices into the
        part as a list; ``tracks`` and ``sensors`` in dict order).

        Each part, then halves of a failing part, are written in transactions that are rolled
        back (nothing is stored), down to the single rows that fail: a few rows among
        thousands cost a few dozen round trips. ``StoreUnavailable`` if the database stops
        answering meanwhile."""
        parts: dict[str, list[Any]] = {
            "observations": batch.observations,
            "positions": batch.positions,
            "tracks": list(batch.tracks.items()),
            "alerts": batch.alerts,
            "sensors": list(batch.sensors.items()),
        }
        out: dict[str, list[tuple[int, str]]] = {}
        for part, items in parts.items():
            bad: list[tuple[int, str]] = []
            todo: list[tuple[int, int]] = [(0, len(items))] if items else []
            while todo:
                lo, hi = todo.pop()
                problem = self._probe(part, items[lo:hi])
                if problem is None:
                    continue
                if hi - lo == 1:
                    bad.append((lo, problem))
                else:
                    mid = (lo + hi) // 2
                    todo += [(mid, hi), (lo, mid)]
            if bad:
                out[part] = sorted(bad)
        return out

    def _probe(self, part: str, items: list[Any]) -> str | None:
        """Why the database refuses ``items`` of ``part``, or ``None`` (rolled back)."""
        try:
            with self.engine.connect() as conn:
                trans = conn.begin()
                try:
                    if part == "observations":
                        self._bulk(conn, "observations", OBSERVATION_COLUMNS, items)
                    elif part == "positions":
                        self._bulk(conn, "track_positions", POSITION_COLUMNS, items)
                    elif part == "tracks":
                        self._upsert_tracks(conn, dict(items), Counter())
                    elif part == "alerts":
                        self._upsert_alerts(conn, items)
                    else:
                        self._upsert_sensors(conn, dict(items))
                finally:
                    trans.rollback()
        except Exception as exc:
            err = store_error(exc)
            if isinstance(err, StoreUnavailable):
                raise err from exc
            return str(err)
        return None

    def _bulk(
        self, conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        """Append rows the fastest way each database has: COPY on PostgreSQL, executemany of
        one prepared INSERT on SQLite."""
        cols = ", ".join(columns)
        if self.dialect == "postgresql":
            raw: Any = conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            conn.exec_driver_sql(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)

    def _new_keys(self, conn: Connection, batch: WriteBatch) -> set[BatchKey]:
        """Record the batch's sensor keys; the ones that were not stored yet."""
        rows = [
            {"sensor_id": k.sensor, "session": k.session, "seq": k.seq, "received": time.time()}
            for k, _, _ in batch.keys
        ]
        b = m.ingest_batches
        stmt = (
            self._insert(b)
            .on_conflict_do_nothing(index_elements=["sensor_id", "session", "seq"])
            .returning(b.c.sensor_id, b.c.session, b.c.seq)
        )
        return {BatchKey(*row) for row in conn.execute(stmt, rows)}

    def _write(self, conn: Connection, batch: WriteBatch) -> int:
        observations = batch.observations
        duplicates = 0
        if batch.keys:
            new = self._new_keys(conn, batch)
            if len(new) < len(batch.keys):  # redelivered: their rows are in already
                skip = [(a, b) for k, a, b in batch.keys if k not in new]
                duplicates = len(skip)
                keep = bytearray(b"\x01") * len(observations)
                for a, b in skip:
                    keep[a:b] = bytes(b - a)
                observations = [r for r, k in zip(observations, keep, strict=True) if k]
        if observations:
            self._bulk(conn, "observations", OBSERVATION_COLUMNS, observations)
        added: Counter[str] = Counter()
        if batch.positions:
            self._bulk(conn, "track_positions", POSITION_COLUMNS, batch.positions)
            added.update(p[0] for p in batch.positions)
        if batch.tracks:
            self._upsert_tracks(conn, batch.tracks, added)
        if added:
            conn.execute(
                self._stmt_n_positions, [{"tid": tid, "n": n} for tid, n in added.items()]
            )
        if batch.alerts:
            self._upsert_alerts(conn, batch.alerts)
        if batch.sensors:
            self._upsert_sensors(conn, batch.sensors)
        if batch.outbox:  # the same event twice (a retried batch) is owed once
            stmt = self._insert(m.outbox).on_conflict_do_nothing(
                index_elements=["target", "key"]
            )
            conn.execute(stmt, batch.outbox)
        return duplicates

    def _upsert_tracks(
        self, conn: Connection, tracks: dict[str, dict[str, Any]], added: Counter[str]
    ) -> None:
        """Tracks' latest states; ``added``: positions written per track (taken out)."""
        rows = []
        for tid, rec in tracks.items():
            row = {k: rec.get(k) for k in _TRACK_COLUMNS}
            row["transports"] = rec.get("transports") or []
            row["sensors"] = rec.get("sensors") or []
            row["sources"] = rec.get("sources") or []
            row["rssi_by_sensor"] = rec.get("rssi_by_sensor") or {}
            row["state"] = rec.get("state") or "active"
            row["n_positions"] = added.pop(tid, 0)
            rows.append(row)
        conn.execute(self._stmt_tracks, rows)

    def _tracks_upsert(self) -> Any:
        stmt = self._insert(m.tracks)
        update = {
            c: stmt.excluded[c]
            for c in _TRACK_COLUMNS
            if c not in ("track_id", "first_seen", "n_positions")
        }
        update["first_seen"] = (
            sa.func.min(m.tracks.c.first_seen, stmt.excluded.first_seen)
            if self.dialect == "sqlite"
            else sa.func.least(m.tracks.c.first_seen, stmt.excluded.first_seen)
        )
        update["n_positions"] = m.tracks.c.n_positions + stmt.excluded.n_positions
        # A state without an RF estimate keeps the stored one: the pipeline forgets a track's
        # estimate before the track's last ("ended") write, and has none after a restart.
        no_estimate = stmt.excluded.rf_estimate.is_(None)
        for c in RF_FIELDS:
            update[c] = sa.case((no_estimate, m.tracks.c[c]), else_=stmt.excluded[c])
        return stmt.on_conflict_do_update(index_elements=["track_id"], set_=update)

    def _upsert_alerts(self, conn: Connection, alerts: list[dict[str, Any]]) -> None:
        latest: dict[str, dict[str, Any]] = {}
        for rec in alerts:
            prev = latest.get(rec["alert_id"])
            row = dict(rec)
            row["first_time"] = prev["first_time"] if prev else rec.get("first_time", rec["time"])
            row["acknowledged"] = False
            row.setdefault("ack_by", None)
            row.setdefault("ack_time", None)
            row.pop("acknowledged_by", None)
            latest[rec["alert_id"]] = row
        stmt = self._insert(m.alerts)
        update = {c: stmt.excluded[c] for c in _ALERT_UPDATE}
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["alert_id"], set_=update),
            [{c.name: r.get(c.name) for c in m.alerts.columns} for r in latest.values()],
        )

    def _sensors_upsert(self) -> Any:
        stmt = self._insert(m.sensors)
        least = sa.func.min if self.dialect == "sqlite" else sa.func.least
        greatest = sa.func.max if self.dialect == "sqlite" else sa.func.greatest
        return stmt.on_conflict_do_update(
            index_elements=["sensor_id"],
            set_={
                "first_seen": least(m.sensors.c.first_seen, stmt.excluded.first_seen),
                "last_seen": greatest(m.sensors.c.last_seen, stmt.excluded.last_seen),
                "frames": m.sensors.c.frames + stmt.excluded.frames,
            },
        )

    def _upsert_sensors(self, conn: Connection, sensors: dict[str, SensorSeen]) -> None:
        conn.execute(
            self._stmt_sensors,
            [
                {
                    "sensor_id": sid,
                    "first_seen": s.first_seen,
                    "last_seen": s.last_seen,
                    "frames": s.frames,
                    "info": {},
                    "lat": None,
                    "lon": None,
                }
                for sid, s in sensors.items()
            ],
        )

    def end_live_tracks(self) -> int:
        """Mark every track not ``ended`` as ``ended`` (at start-up: nothing is live yet)."""
        with self.engine.begin() as conn:
            res = conn.execute(
                m.tracks.update().where(m.tracks.c.state != "ended").values(state="ended")
            )
            return res.rowcount or 0

    def purge(self, older_than: float) -> dict[str, int]:
        """Retention: delete observations, positions, tracks and alerts older than ``older_than``."""
        out: dict[str, int] = {}
        with self.engine.begin() as conn:
            out["observations"] = (
                conn.execute(
                    m.observations.delete().where(m.observations.c.time < older_than)
                ).rowcount
                or 0
            )
            out["positions"] = (
                conn.execute(m.positions.delete().where(m.positions.c.time < older_than)).rowcount
                or 0
            )
            old_alerts = sa.select(m.alerts.c.alert_id).where(m.alerts.c.time < older_than)
            conn.execute(
                m.alert_comments.delete().where(m.alert_comments.c.alert_id.in_(old_alerts))
            )
            out["alerts"] = (
                conn.execute(m.alerts.delete().where(m.alerts.c.time < older_than)).rowcount or 0
            )
            out["tracks"] = (
                conn.execute(m.tracks.delete().where(m.tracks.c.last_seen < older_than)).rowcount
                or 0
            )
            b = m.ingest_batches
            out["ingest_batches"] = (
                conn.execute(b.delete().where(b.c.received < older_than)).rowcount or 0
            )
        return out

    # ---- tracks ----------------------------------------------------------------------------

    @staticmethod
    def _track_json(row: sa.Row[Any]) -> dict[str, Any]:
        d = dict(row._mapping)
        d["positions"] = d.pop("n_positions")
        return d

    def list_tracks(
        self,
        *,
        active: bool | None = None,
        since: float | None = None,
        until: float | None = None,
        bbox: BBox | None = None,
        q: str | None = None,
        limit: int = 1000,
        trail: int = TRAIL_POINTS,
    ) -> list[dict[str, Any]]:
        """Track summaries, most recently seen first, each with its last ``trail`` points."""
        t = m.tracks
        stmt = sa.select(t)
        if active is True:
            stmt = stmt.where(t.c.state == "active")
        elif active is False:
            stmt = stmt.where(t.c.state != "active")
        if since is not None:
            stmt = stmt.where(t.c.last_seen >= since)
        if until is not None:
            stmt = stmt.where(t.c.first_seen <= until)
        if bbox is not None:
            stmt = stmt.where(t.c.lon.between(bbox[0], bbox[2]), t.c.lat.between(bbox[1], bbox[3]))
        if q:
            # A substring, not a pattern: autoescape makes % and _ in q match themselves.
            needle = q.lower()
            stmt = stmt.where(
                sa.or_(
                    *(
                        sa.func.lower(col).contains(needle, autoescape=True)
                        for col in (
                            t.c.track_id,
                            t.c.uas_id,
                            t.c.serial,
                            t.c.operator_id,
                            t.c.product,
                        )
                    )
                )
            )
        stmt = stmt.order_by(t.c.last_seen.desc()).limit(limit)
        with self.engine.connect() as conn:
            out = [self._track_json(r) for r in conn.execute(stmt)]
            if out and trail > 0:
                trails = self._trails(conn, [d["track_id"] for d in out], trail)
                for d in out:
                    d["trail"] = trails.get(d["track_id"], [])
        return out

    def _trails(
        self, conn: Connection, track_ids: Sequence[str], n: int
    ) -> dict[str, list[list[float | None]]]:
        p = m.positions
        out: dict[str, list[list[float | None]]] = {}
        for i in range(0, len(track_ids), 500):
            chunk = list(track_ids[i : i + 500])
            rn = sa.func.row_number().over(partition_by=p.c.track_id, order_by=p.c.time.desc())
            inner = (
                sa.select(p.c.track_id, p.c.time, p.c.lat, p.c.lon, p.c.alt, rn.label("rn"))
                .where(p.c.track_id.in_(chunk))
                .subquery()
            )
            stmt = (
                sa.select(inner.c.track_id, inner.c.time, inner.c.lat, inner.c.lon, inner.c.alt)
                .where(inner.c.rn <= n)
                .order_by(inner.c.track_id, inner.c.time)
            )
            for tid, t, lat, lon, alt in conn.execute(stmt):
                out.setdefault(tid, []).append([t, lat, lon, alt])
        return out

    def get_track(self, track_id: str, *, limit: int = 10000) -> dict[str, Any] | None:
        """One track with its positions (the most recent ``limit``, oldest first)."""
        p = m.positions
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(m.tracks).where(m.tracks.c.track_id == track_id)).first()
            if row is None:
                return None
            d = self._track_json(row)
            pts = conn.execute(
                sa.select(p.c.time, p.c.lat, p.c.lon, p.c.alt)
                .where(p.c.track_id == track_id)
                .order_by(p.c.time.desc())
                .limit(limit)
            ).all()
        d["positions"] = [list(r) for r in reversed(pts)]
        return d

    def time_range(self) -> tuple[float, float] | None:
        """(first, last): the data's time span (first and last seen of any track), or None."""
        t = m.tracks.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sa.func.min(t.first_seen), sa.func.max(t.last_seen))).first()
        if row is None or row[0] is None or row[1] is None:
            return None
        return float(row[0]), float(row[1])

    def newest_time(self) -> float | None:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(m.tracks.c.last_seen))).scalar()
        return float(value) if value is not None else None

    def history(
        self,
        start: float,
        end: float,
        *,
        bbox: BBox | None = None,
        q: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Every track with points in [start, end]: its points and its pilot's positions."""
        p = m.positions
        tracks = self.list_tracks(since=start, until=end, q=q, limit=limit, trail=0)
        ids = [t["track_id"] for t in tracks]
        points: dict[str, list[list[float | None]]] = {}
        operator: dict[str, list[list[float | None]]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                stmt = (
                    sa.select(
                        p.c.track_id,
                        p.c.time,
                        p.c.lat,
                        p.c.lon,
                        p.c.alt,
                        p.c.operator_lat,
                        p.c.operator_lon,
                    )
                    .where(p.c.track_id.in_(chunk), p.c.time >= start, p.c.time <= end)
                    .order_by(p.c.track_id, p.c.time)
                )
                for tid, t, lat, lon, alt, olat, olon in conn.execute(stmt):
                    points.setdefault(tid, []).append([t, lat, lon, alt])
                    if olat is not None and olon is not None:
                        ops = operator.setdefault(tid, [])
                        if not ops or ops[-1][1] != olat or ops[-1][2] != olon:
                            ops.append([t, olat, olon])
        out = []
        for t in tracks:
            pts = points.get(t["track_id"], [])
            if bbox is not None and not any(
                bbox[0] <= (pt[2] or 0.0) <= bbox[2] and bbox[1] <= (pt[1] or 0.0) <= bbox[3]
                for pt in pts
            ):
                continue
            if not pts:
                continue
            out.append(
                {
                    "track_id": t["track_id"],
                    "uas_id": t["uas_id"],
                    "serial": t["serial"],
                    "operator_id": t["operator_id"],
                    "product": t["product"],
                    "rf_lat": t["rf_lat"],
                    "rf_lon": t["rf_lon"],
                    "rf_error_m": t["rf_error_m"],
                    "points": pts,
                    "operator": operator.get(t["track_id"], []),
                }
            )
        return out

    def iter_observations(self, start: float, end: float) -> Iterator[dict[str, Any]]:
        """Observations in [start, end], in time order (streamed)."""
        o = m.observations
        stmt = (
            sa.select(*(o.c[c] for c in _OBS_COLUMNS))
            .where(o.c.time >= start, o.c.time <= end)
            .order_by(o.c.time)
        )
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=2000).execute(stmt)
            for row in result:
                yield dict(row._mapping)

    # ---- alerts ----------------------------------------------------------------------------

    def _alerts_json(self, conn: Connection, rows: Iterable[sa.Row[Any]]) -> list[dict[str, Any]]:
        out = [dict(r._mapping) for r in rows]
        if out:
            c = m.alert_comments
            comments: dict[str, list[dict[str, Any]]] = {}
            ids = [a["alert_id"] for a in out]
            for i in range(0, len(ids), 500):
                stmt = (
                    sa.select(c.c.alert_id, c.c.time, c.c.author, c.c.text)
                    .where(c.c.alert_id.in_(ids[i : i + 500]))
                    .order_by(c.c.time, c.c.id)
                )
                for aid, t, author, text in conn.execute(stmt):
                    comments.setdefault(aid, []).append({"time": t, "author": author, "text": text})
            for a in out:
                a["comments"] = comments.get(a["alert_id"], [])
        return out

    def list_alerts(
        self,
        *,
        status: str = "open",
        since: float | None = None,
        track_id: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Alerts newest first; ``status="open"``: not closed and not acknowledged."""
        a = m.alerts
        stmt = sa.select(a)
        if status == "open":
            stmt = stmt.where(a.c.status != "closed", a.c.acknowledged.is_(False))
        if since is not None:
            stmt = stmt.where(a.c.time >= since)
        if track_id is not None:
            stmt = stmt.where(a.c.track_id == track_id)
        stmt = stmt.order_by(a.c.time.desc()).limit(limit)
        with self.engine.connect() as conn:
            return self._alerts_json(conn, conn.execute(stmt))

    def unclosed_alerts(self, since: float) -> list[dict[str, Any]]:
        """Alert episodes not closed whose last event is at or after ``since`` (acknowledged
        or not): what a restarted server continues (``AlertEngine.resume``)."""
        a = m.alerts
        stmt = sa.select(a).where(a.c.status != "closed", a.c.time >= since).order_by(a.c.time)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def get_alert(self, alert_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            rows = self._alerts_json(
                conn, conn.execute(sa.select(m.alerts).where(m.alerts.c.alert_id == alert_id))
            )
        return rows[0] if rows else None

    def ack_alert(
        self, alert_id: str, by: str, comment: str | None = None
    ) -> dict[str, Any] | None:
        """Acknowledge an alert (idempotent: the first acknowledgement is kept)."""
        now = time.time()
        with self.engine.begin() as conn:
            res = conn.execute(
                m.alerts.update()
                .where(m.alerts.c.alert_id == alert_id, m.alerts.c.acknowledged.is_(False))
                .values(acknowledged=True, ack_by=by, ack_time=now)
            )
            if res.rowcount == 0:
                exists = conn.execute(
                    sa.select(m.alerts.c.alert_id).where(m.alerts.c.alert_id == alert_id)
                ).first()
                if exists is None:
                    return None
            if comment:
                conn.execute(
                    m.alert_comments.insert().values(
                        alert_id=alert_id, time=now, author=by, text=comment
                    )
                )
        return self.get_alert(alert_id)

    def add_comment(self, alert_id: str, author: str, text: str) -> dict[str, Any] | None:
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(m.alerts.c.alert_id).where(m.alerts.c.alert_id == alert_id)
            ).first()
            if exists is None:
                return None
            conn.execute(
                m.alert_comments.insert().values(
                    alert_id=alert_id, time=time.time(), author=author, text=text
                )
            )
        return self.get_alert(alert_id)

    # ---- zones -----------------------------------------------------------------------------

    @staticmethod
    def _zone_feature(row: sa.Row[Any]) -> dict[str, Any]:
        props = dict(row.properties)
        props["name"] = row.name
        return {"type": "Feature", "id": row.zone_id, "geometry": row.geometry, "properties": props}

    def list_zones(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(m.zones).order_by(m.zones.c.created, m.zones.c.zone_id))
            return [self._zone_feature(r) for r in rows]

    def get_zone(self, zone_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(m.zones).where(m.zones.c.zone_id == zone_id)).first()
        return self._zone_feature(row) if row is not None else None

    def put_zone(
        self, zone_id: str, geometry: dict[str, Any], properties: dict[str, Any]
    ) -> dict[str, Any]:
        """Create or replace a zone; ``properties["name"]`` is required."""
        now = time.time()
        props = dict(properties)
        name = str(props.pop("name"))
        stmt = self._insert(m.zones).values(
            zone_id=zone_id,
            name=name,
            geometry=geometry,
            properties=props,
            created=now,
            updated=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["zone_id"],
            set_={"name": name, "geometry": geometry, "properties": props, "updated": now},
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)
        zone = self.get_zone(zone_id)
        assert zone is not None
        return zone

    def delete_zone(self, zone_id: str) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(m.zones.delete().where(m.zones.c.zone_id == zone_id)).rowcount)

    def count_zones(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(m.zones)).scalar() or 0)

    # ---- whitelist, sensors ----------------------------------------------------------------

    def get_whitelist(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(sa.select(m.whitelist.c.ident).order_by(m.whitelist.c.ident)).scalars()
            )

    def set_whitelist(self, ids: Iterable[str]) -> list[str]:
        now = time.time()
        unique = sorted({i.strip() for i in ids if i.strip()})
        with self.engine.begin() as conn:
            conn.execute(m.whitelist.delete())
            if unique:
                conn.execute(m.whitelist.insert(), [{"ident": i, "added": now} for i in unique])
        return unique

    def put_sensor_position(
        self, sensor_id: str, lat: float, lon: float, alt: float | None, when: float
    ) -> None:
        """Record where a sensor is (its frames counters are left alone); the altitude (m)
        is kept in ``info["alt"]``."""
        stmt = self._insert(m.sensors)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["sensor_id"],
                        set_={"lat": stmt.excluded.lat, "lon": stmt.excluded.lon,
                              "info": stmt.excluded.info},
                    ),
                    [{"sensor_id": sensor_id, "first_seen": when, "last_seen": when, "frames": 0,
                      "lat": lat, "lon": lon, "info": {"alt": alt}}],
                )
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot record the position of sensor {sensor_id}: {exc}") from exc

    def list_sensors(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(m.sensors).order_by(m.sensors.c.sensor_id))
            return [dict(r._mapping) for r in rows]

    def counts(self) -> dict[str, int]:
        """Row counts per table (for tests and /api/stats)."""
        out = {}
        with self.engine.connect() as conn:
            for name, table in (
                ("observations", m.observations),
                ("tracks", m.tracks),
                ("positions", m.positions),
                ("alerts", m.alerts),
            ):
                out[name] = int(
                    conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0
                )
        return out
