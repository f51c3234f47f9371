"""The dronewatch store: SQLite (default) or PostgreSQL through one SQLAlchemy 2 schema.

``Store.open(url)`` connects, runs the alembic migrations shipped in this package and returns a
store whose methods are safe to call from several threads (the pipeline's background writer and
the API's request threads). Writes come in batches (``WriteBatch``) and go in with executemany.
"""

from __future__ import annotations

import logging
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

from dronewatch.store import models as m
from dronewatch.store.records import OBSERVATION_COLUMNS, POSITION_COLUMNS, dumps

log = logging.getLogger(__name__)

DEFAULT_DB_PATH = Path("dronewatch-data") / "dronewatch.db"
TRAIL_POINTS = 50

BBox = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


class StoreError(RuntimeError):
    """The database refused a write or a read (locked, full, unreachable...)."""


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
    # Called once the batch is committed: the live sources' acknowledgements of the frames
    # whose rows it holds (an MQTT broker forgets a message only then).
    acks: list[Callable[[], None]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.observations) + len(self.positions) + len(self.tracks) + len(self.alerts)

    def merge(self, other: WriteBatch) -> None:
        self.observations.extend(other.observations)
        self.positions.extend(other.positions)
        self.tracks.update(other.tracks)
        self.alerts.extend(other.alerts)
        self.acks.extend(other.acks)
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
        else:
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

    def write(self, batch: WriteBatch) -> None:
        """Write one batch in one transaction; ``StoreError`` if the database refuses it."""
        try:
            with self.engine.begin() as conn:
                self._write(conn, batch)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"database write failed: {exc.__class__.__name__}: {exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc}"
            ) from exc

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

    def _write(self, conn: Connection, batch: WriteBatch) -> None:
        if batch.observations:
            self._bulk(conn, "observations", OBSERVATION_COLUMNS, batch.observations)
        added: Counter[str] = Counter()
        if batch.positions:
            self._bulk(conn, "track_positions", POSITION_COLUMNS, batch.positions)
            added.update(p[0] for p in batch.positions)
        if batch.tracks:
            rows = []
            for tid, rec in batch.tracks.items():
                row = {k: rec.get(k) for k in _TRACK_COLUMNS}
                row["transports"] = rec.get("transports") or []
                row["sensors"] = rec.get("sensors") or []
                row["sources"] = rec.get("sources") or []
                row["rssi_by_sensor"] = rec.get("rssi_by_sensor") or {}
                row["state"] = rec.get("state") or "active"
                row["n_positions"] = added.pop(tid, 0)
                rows.append(row)
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
            conn.execute(stmt.on_conflict_do_update(index_elements=["track_id"], set_=update), rows)
        if added:
            conn.execute(
                m.tracks.update()
                .where(m.tracks.c.track_id == sa.bindparam("tid"))
                .values(n_positions=m.tracks.c.n_positions + sa.bindparam("n")),
                [{"tid": tid, "n": n} for tid, n in added.items()],
            )
        if batch.alerts:
            latest: dict[str, dict[str, Any]] = {}
            for rec in batch.alerts:
                prev = latest.get(rec["alert_id"])
                row = dict(rec)
                row["first_time"] = prev["first_time"] if prev else rec["time"]
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
        if batch.sensors:
            stmt = self._insert(m.sensors)
            least = sa.func.min if self.dialect == "sqlite" else sa.func.least
            greatest = sa.func.max if self.dialect == "sqlite" else sa.func.greatest
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["sensor_id"],
                    set_={
                        "first_seen": least(m.sensors.c.first_seen, stmt.excluded.first_seen),
                        "last_seen": greatest(m.sensors.c.last_seen, stmt.excluded.last_seen),
                        "frames": m.sensors.c.frames + stmt.excluded.frames,
                    },
                ),
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
                    for sid, s in batch.sensors.items()
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
            pattern = f"%{q.lower()}%"
            stmt = stmt.where(
                sa.or_(
                    *(
                        sa.func.lower(col).like(pattern)
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
