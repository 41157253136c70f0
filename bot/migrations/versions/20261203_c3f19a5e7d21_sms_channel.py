"""SMS: consent of each number, one keyword reply per stranger per day, and
the segments and delivery status of each outbox row sent by SMS (#19)

Revision ID: c3f19a5e7d21
Revises: b7d41e9a2c65
Create Date: 2026-12-03 19:15:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db

revision: str = 'c3f19a5e7d21'
down_revision: str | None = 'b7d41e9a2c65'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'sms_subscription',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('source', sa.Enum('counter', 'phone', 'keyword', name='smsconsentsource',
                                    native_enum=False, length=16), nullable=False),
        sa.Column('registered_by', sa.String(length=64), nullable=True),
        sa.Column('consented_at', bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('stopped_at', bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['channel_account.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('account_id'),
    )
    op.create_table(
        'sms_keyword_reply',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phone', sa.String(length=32), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('created_at', bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('phone', 'day'),
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('segments', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('delivery_status', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('delivery_status')
        batch_op.drop_column('segments')
    op.drop_table('sms_keyword_reply')
    op.drop_table('sms_subscription')
