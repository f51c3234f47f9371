"""The database schema (SQLAlchemy 2 declarative), one for SQLite and PostgreSQL.

Times are UTC epoch seconds (double precision), positions WGS84 degrees, heights metres, as in
:mod:`dronewatch.model`. The schema is created and upgraded by the alembic migrations in
``dronewatch/store/migrations`` (never by ``create_all`` in production).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class ObservationRow(Base):
    """One decoded message about one drone (``model.Observation``) and the track it joined."""

    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    time: Mapped[float] = mapped_column(Double, nullable=False)
    track_id: Mapped[str | None] = mapped_column(Text)
    transport: Mapped[str] = mapped_column(Text, nullable=False)
    message_type: Mapped[str] = mapped_column(Text, nullable=False)
    sensor_id: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str | None] = mapped_column(Text)
    rssi_dbm: Mapped[float | None] = mapped_column(Double)
    uas_id: Mapped[str | None] = mapped_column(Text)
    id_type: Mapped[str | None] = mapped_column(Text)
    serial: Mapped[str | None] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(Text)
    ua_type: Mapped[str | None] = mapped_column(Text)
    product: Mapped[str | None] = mapped_column(Text)
    operator_id: Mapped[str | None] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    alt_geo: Mapped[float | None] = mapped_column(Double)
    alt_baro: Mapped[float | None] = mapped_column(Double)
    height: Mapped[float | None] = mapped_column(Double)
    speed: Mapped[float | None] = mapped_column(Double)
    direction: Mapped[float | None] = mapped_column(Double)
    vspeed: Mapped[float | None] = mapped_column(Double)
    operator_lat: Mapped[float | None] = mapped_column(Double)
    operator_lon: Mapped[float | None] = mapped_column(Double)
    operator_alt: Mapped[float | None] = mapped_column(Double)
    home_lat: Mapped[float | None] = mapped_column(Double)
    home_lon: Mapped[float | None] = mapped_column(Double)
    sender_time: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (
        Index("ix_observations_time", "time"),
        Index("ix_observations_track_time", "track_id", "time"),
        Index("ix_observations_lat_lon", "lat", "lon"),
    )


class TrackRow(Base):
    """The current (last written) state of one track (``model.Track`` without positions)."""

    __tablename__ = "tracks"

    track_id: Mapped[str] = mapped_column(Text, primary_key=True)
    first_seen: Mapped[float] = mapped_column(Double, nullable=False)
    last_seen: Mapped[float] = mapped_column(Double, nullable=False)
    uas_id: Mapped[str | None] = mapped_column(Text)
    serial: Mapped[str | None] = mapped_column(Text)
    operator_id: Mapped[str | None] = mapped_column(Text)
    ua_type: Mapped[str | None] = mapped_column(Text)
    product: Mapped[str | None] = mapped_column(Text)
    transports: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    sensors: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    sources: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    alt: Mapped[float | None] = mapped_column(Double)
    height: Mapped[float | None] = mapped_column(Double)
    speed: Mapped[float | None] = mapped_column(Double)
    direction: Mapped[float | None] = mapped_column(Double)
    vspeed: Mapped[float | None] = mapped_column(Double)
    operator_lat: Mapped[float | None] = mapped_column(Double)
    operator_lon: Mapped[float | None] = mapped_column(Double)
    operator_alt: Mapped[float | None] = mapped_column(Double)
    home_lat: Mapped[float | None] = mapped_column(Double)
    home_lon: Mapped[float | None] = mapped_column(Double)
    takeoff_time: Mapped[float | None] = mapped_column(Double)
    max_alt: Mapped[float | None] = mapped_column(Double)
    rssi_by_sensor: Mapped[dict[str, float]] = mapped_column(JSON, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(Text, nullable=False, default="active")
    n_positions: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The latest RF position estimate (``track.rf_locate``): where the signal placed the
    # transmitter (degrees; null unless located), its 1-sigma radius (metres), and the whole
    # estimate as the API serves it (``RfEstimate.to_json``; SQL NULL: none yet). A write
    # without an estimate keeps the stored one (``Store._tracks_upsert``).
    rf_lat: Mapped[float | None] = mapped_column(Double)
    rf_lon: Mapped[float | None] = mapped_column(Double)
    rf_error_m: Mapped[float | None] = mapped_column(Double)
    rf_estimate: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    __table_args__ = (
        Index("ix_tracks_last_seen", "last_seen"),
        Index("ix_tracks_first_seen", "first_seen"),
        Index("ix_tracks_lat_lon", "lat", "lon"),
        Index("ix_tracks_uas_id", "uas_id"),
        Index("ix_tracks_serial", "serial"),
    )


class PositionRow(Base):
    """One point of a track's path, with the pilot position known at that time."""

    __tablename__ = "track_positions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    track_id: Mapped[str] = mapped_column(Text, nullable=False)
    time: Mapped[float] = mapped_column(Double, nullable=False)
    lat: Mapped[float] = mapped_column(Double, nullable=False)
    lon: Mapped[float] = mapped_column(Double, nullable=False)
    alt: Mapped[float | None] = mapped_column(Double)
    operator_lat: Mapped[float | None] = mapped_column(Double)
    operator_lon: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (
        Index("ix_track_positions_track_time", "track_id", "time"),
        Index("ix_track_positions_time", "time"),
        Index("ix_track_positions_lat_lon", "lat", "lon"),
    )


class AlertRow(Base):
    """One alert episode (``model.Alert``): its latest event plus acknowledgement."""

    __tablename__ = "alerts"

    alert_id: Mapped[str] = mapped_column(Text, primary_key=True)
    rule: Mapped[str] = mapped_column(Text, nullable=False)
    severity: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    track_id: Mapped[str] = mapped_column(Text, nullable=False)
    time: Mapped[float] = mapped_column(Double, nullable=False)
    first_time: Mapped[float] = mapped_column(Double, nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    uas_id: Mapped[str | None] = mapped_column(Text)
    serial: Mapped[str | None] = mapped_column(Text)
    zone: Mapped[str | None] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    alt: Mapped[float | None] = mapped_column(Double)
    operator_lat: Mapped[float | None] = mapped_column(Double)
    operator_lon: Mapped[float | None] = mapped_column(Double)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    acknowledged: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    ack_by: Mapped[str | None] = mapped_column(Text)
    ack_time: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (
        Index("ix_alerts_time", "time"),
        Index("ix_alerts_track_id", "track_id"),
        Index("ix_alerts_status", "status", "acknowledged"),
    )


class AlertCommentRow(Base):
    __tablename__ = "alert_comments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(
        Text, ForeignKey("alerts.alert_id", ondelete="CASCADE"), nullable=False
    )
    time: Mapped[float] = mapped_column(Double, nullable=False)
    author: Mapped[str] = mapped_column(Text, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (Index("ix_alert_comments_alert_id", "alert_id"),)


class ZoneRow(Base):
    """A zone as a GeoJSON geometry (lon, lat) with its properties."""

    __tablename__ = "zones"

    zone_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created: Mapped[float] = mapped_column(Double, nullable=False)
    updated: Mapped[float] = mapped_column(Double, nullable=False)


class WhitelistRow(Base):
    """A trusted identity: a UAS ID, serial number or operator ID."""

    __tablename__ = "whitelist"

    ident: Mapped[str] = mapped_column(Text, primary_key=True)
    added: Mapped[float] = mapped_column(Double, nullable=False)


class SensorRow(Base):
    __tablename__ = "sensors"

    sensor_id: Mapped[str] = mapped_column(Text, primary_key=True)
    first_seen: Mapped[float] = mapped_column(Double, nullable=False)
    last_seen: Mapped[float] = mapped_column(Double, nullable=False)
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    frames: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class IngestBatchRow(Base):
    """A sensor's batch whose rows are committed: its key (sensor, the sensor's session, the
    batch's number in it), written in the same transaction as the rows. A redelivered batch
    finds its key here and is not stored twice (``ON CONFLICT DO NOTHING``)."""

    __tablename__ = "ingest_batches"

    sensor_id: Mapped[str] = mapped_column(Text, primary_key=True)
    session: Mapped[str] = mapped_column(Text, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    received: Mapped[float] = mapped_column(Double, nullable=False)  # server clock, at commit

    __table_args__ = (Index("ix_ingest_batches_received", "received"),)


class OutboxRow(Base):
    """An event owed to a receiver that must not lose it (a webhook): written in the same
    transaction as the alert it carries, deleted once the receiver took it. ``key`` is the
    idempotency key the receiver sees on every attempt; ``body`` the exact bytes sent."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(Text, nullable=False)  # the sink's name, e.g. the URL
    key: Mapped[str] = mapped_column(Text, nullable=False)
    created: Mapped[float] = mapped_column(Double, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt: Mapped[float] = mapped_column(Double, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_outbox_target_key", "target", "key", unique=True),
        Index("ix_outbox_target_next", "target", "next_attempt"),
    )


observations: Table = ObservationRow.__table__  # type: ignore[assignment]
tracks: Table = TrackRow.__table__  # type: ignore[assignment]
positions: Table = PositionRow.__table__  # type: ignore[assignment]
alerts: Table = AlertRow.__table__  # type: ignore[assignment]
alert_comments: Table = AlertCommentRow.__table__  # type: ignore[assignment]
zones: Table = ZoneRow.__table__  # type: ignore[assignment]
whitelist: Table = WhitelistRow.__table__  # type: ignore[assignment]
sensors: Table = SensorRow.__table__  # type: ignore[assignment]
ingest_batches: Table = IngestBatchRow.__table__  # type: ignore[assignment]
outbox: Table = OutboxRow.__table__  # type: ignore[assignment]
