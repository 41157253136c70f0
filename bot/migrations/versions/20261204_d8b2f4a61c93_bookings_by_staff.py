"""bookings an officer made for a citizen at the counter or on the phone:
who booked (None: the citizen, in the chat) and how the citizen asked (#19)

Revision ID: d8b2f4a61c93
Revises: c4a9e7f1b302
Create Date: 2026-12-04 14:45:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'd8b2f4a61c93'
down_revision: str | None = 'c4a9e7f1b302'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('reception_booking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('booked_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('booked_via', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('reception_booking', schema=None) as batch_op:
        batch_op.drop_column('booked_via')
        batch_op.drop_column('booked_by')
