"""tracks: the latest RF position estimate (rf_lat, rf_lon, rf_error_m, rf_estimate)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable columns without a default: existing rows read as "no estimate", and neither
    # database rewrites the table to add them.
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rf_lat", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("rf_lon", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("rf_error_m", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("rf_estimate", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_column("rf_estimate")
        batch_op.drop_column("rf_error_m")
        batch_op.drop_column("rf_lon")
        batch_op.drop_column("rf_lat")
