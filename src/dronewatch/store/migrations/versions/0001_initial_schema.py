"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 23:09:34.396642
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("track_id", sa.Text(), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("first_time", sa.Double(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("uas_id", sa.Text(), nullable=True),
        sa.Column("serial", sa.Text(), nullable=True),
        sa.Column("zone", sa.Text(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("alt", sa.Double(), nullable=True),
        sa.Column("operator_lat", sa.Double(), nullable=True),
        sa.Column("operator_lon", sa.Double(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("ack_by", sa.Text(), nullable=True),
        sa.Column("ack_time", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_status", ["status", "acknowledged"], unique=False)
        batch_op.create_index("ix_alerts_time", ["time"], unique=False)
        batch_op.create_index("ix_alerts_track_id", ["track_id"], unique=False)

    op.create_table(
        "observations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("track_id", sa.Text(), nullable=True),
        sa.Column("transport", sa.Text(), nullable=False),
        sa.Column("message_type", sa.Text(), nullable=False),
        sa.Column("sensor_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("rssi_dbm", sa.Double(), nullable=True),
        sa.Column("uas_id", sa.Text(), nullable=True),
        sa.Column("id_type", sa.Text(), nullable=True),
        sa.Column("serial", sa.Text(), nullable=True),
        sa.Column("session_id", sa.Text(), nullable=True),
        sa.Column("ua_type", sa.Text(), nullable=True),
        sa.Column("product", sa.Text(), nullable=True),
        sa.Column("operator_id", sa.Text(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("alt_geo", sa.Double(), nullable=True),
        sa.Column("alt_baro", sa.Double(), nullable=True),
        sa.Column("height", sa.Double(), nullable=True),
        sa.Column("speed", sa.Double(), nullable=True),
        sa.Column("direction", sa.Double(), nullable=True),
        sa.Column("vspeed", sa.Double(), nullable=True),
        sa.Column("operator_lat", sa.Double(), nullable=True),
        sa.Column("operator_lon", sa.Double(), nullable=True),
        sa.Column("operator_alt", sa.Double(), nullable=True),
        sa.Column("home_lat", sa.Double(), nullable=True),
        sa.Column("home_lon", sa.Double(), nullable=True),
        sa.Column("sender_time", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.create_index("ix_observations_lat_lon", ["lat", "lon"], unique=False)
        batch_op.create_index("ix_observations_time", ["time"], unique=False)
        batch_op.create_index("ix_observations_track_time", ["track_id", "time"], unique=False)

    op.create_table(
        "sensors",
        sa.Column("sensor_id", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.Double(), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("frames", sa.BigInteger(), nullable=False),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("sensor_id"),
    )
    op.create_table(
        "track_positions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("track_id", sa.Text(), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("alt", sa.Double(), nullable=True),
        sa.Column("operator_lat", sa.Double(), nullable=True),
        sa.Column("operator_lon", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("track_positions", schema=None) as batch_op:
        batch_op.create_index("ix_track_positions_lat_lon", ["lat", "lon"], unique=False)
        batch_op.create_index("ix_track_positions_time", ["time"], unique=False)
        batch_op.create_index("ix_track_positions_track_time", ["track_id", "time"], unique=False)

    op.create_table(
        "tracks",
        sa.Column("track_id", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.Double(), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=False),
        sa.Column("uas_id", sa.Text(), nullable=True),
        sa.Column("serial", sa.Text(), nullable=True),
        sa.Column("operator_id", sa.Text(), nullable=True),
        sa.Column("ua_type", sa.Text(), nullable=True),
        sa.Column("product", sa.Text(), nullable=True),
        sa.Column("transports", sa.JSON(), nullable=False),
        sa.Column("sensors", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("alt", sa.Double(), nullable=True),
        sa.Column("height", sa.Double(), nullable=True),
        sa.Column("speed", sa.Double(), nullable=True),
        sa.Column("direction", sa.Double(), nullable=True),
        sa.Column("vspeed", sa.Double(), nullable=True),
        sa.Column("operator_lat", sa.Double(), nullable=True),
        sa.Column("operator_lon", sa.Double(), nullable=True),
        sa.Column("operator_alt", sa.Double(), nullable=True),
        sa.Column("home_lat", sa.Double(), nullable=True),
        sa.Column("home_lon", sa.Double(), nullable=True),
        sa.Column("takeoff_time", sa.Double(), nullable=True),
        sa.Column("max_alt", sa.Double(), nullable=True),
        sa.Column("rssi_by_sensor", sa.JSON(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("n_positions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("track_id"),
    )
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index("ix_tracks_first_seen", ["first_seen"], unique=False)
        batch_op.create_index("ix_tracks_last_seen", ["last_seen"], unique=False)
        batch_op.create_index("ix_tracks_lat_lon", ["lat", "lon"], unique=False)
        batch_op.create_index("ix_tracks_serial", ["serial"], unique=False)
        batch_op.create_index("ix_tracks_uas_id", ["uas_id"], unique=False)

    op.create_table(
        "whitelist",
        sa.Column("ident", sa.Text(), nullable=False),
        sa.Column("added", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("ident"),
    )
    op.create_table(
        "zones",
        sa.Column("zone_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("updated", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("zone_id"),
    )
    op.create_table(
        "alert_comments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("alert_id", sa.Text(), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.alert_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_comments", schema=None) as batch_op:
        batch_op.create_index("ix_alert_comments_alert_id", ["alert_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert_comments", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_comments_alert_id")

    op.drop_table("alert_comments")
    op.drop_table("zones")
    op.drop_table("whitelist")
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index("ix_tracks_uas_id")
        batch_op.drop_index("ix_tracks_serial")
        batch_op.drop_index("ix_tracks_lat_lon")
        batch_op.drop_index("ix_tracks_last_seen")
        batch_op.drop_index("ix_tracks_first_seen")

    op.drop_table("tracks")
    with op.batch_alter_table("track_positions", schema=None) as batch_op:
        batch_op.drop_index("ix_track_positions_track_time")
        batch_op.drop_index("ix_track_positions_time")
        batch_op.drop_index("ix_track_positions_lat_lon")

    op.drop_table("track_positions")
    op.drop_table("sensors")
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_index("ix_observations_track_time")
        batch_op.drop_index("ix_observations_time")
        batch_op.drop_index("ix_observations_lat_lon")

    op.drop_table("observations")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_track_id")
        batch_op.drop_index("ix_alerts_time")
        batch_op.drop_index("ix_alerts_status")

    op.drop_table("alerts")
