"""voice messages: recordings citizens send instead of typing a complaint's
description or a reception topic (#19, item 2)

Revision ID: c4a9e7f1b302
Revises: c3f19a5e7d21
Create Date: 2026-12-03 19:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db

revision: str = 'c4a9e7f1b302'
down_revision: str | None = 'c3f19a5e7d21'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'voice_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('citizen_id', sa.Integer(), nullable=True),
        sa.Column('complaint_id', sa.Integer(), nullable=True),
        sa.Column('booking_id', sa.Integer(), nullable=True),
        sa.Column('urgent_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('file_id', sa.String(length=300), nullable=True),
        sa.Column('url', sa.Text(), nullable=True),
        sa.Column('file_name', sa.String(length=255), nullable=True),
        sa.Column('duration', sa.Integer(), nullable=True),
        sa.Column('status', sa.Enum('pending', 'stored', 'rejected', 'failed', 'deleted',
                                    name='voicestatus', native_enum=False, length=16),
                  nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('error', sa.String(length=300), nullable=True),
        sa.Column('path', sa.String(length=500), nullable=True),
        sa.Column('mime_type', sa.String(length=64), nullable=True),
        sa.Column('size', sa.Integer(), nullable=True),
        sa.Column('created_at', bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('stored_at', bot.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizen.id'],
                                name=op.f('fk_voice_message_citizen_id_citizen')),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id'], ondelete='CASCADE',
                                name=op.f('fk_voice_message_complaint_id_complaint')),
        sa.ForeignKeyConstraint(['booking_id'], ['reception_booking.id'], ondelete='CASCADE',
                                name=op.f('fk_voice_message_booking_id_reception_booking')),
        sa.ForeignKeyConstraint(['urgent_id'], ['reception_urgent.id'], ondelete='CASCADE',
                                name=op.f('fk_voice_message_urgent_id_reception_urgent')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_voice_message')),
    )
    with op.batch_alter_table('voice_message', schema=None) as batch_op:
        for column in ('citizen_id', 'complaint_id', 'booking_id', 'urgent_id', 'status'):
            batch_op.create_index(batch_op.f(f'ix_voice_message_{column}'), [column],
                                  unique=False)


def downgrade() -> None:
    with op.batch_alter_table('voice_message', schema=None) as batch_op:
        for column in ('citizen_id', 'complaint_id', 'booking_id', 'urgent_id', 'status'):
            batch_op.drop_index(batch_op.f(f'ix_voice_message_{column}'))
    op.drop_table('voice_message')
