"""outbox rows say what a bot-started message is for, whether it went outside
Viber's 24-hour session, and, for a held one, its line in the summary

Messages the law requires now go to Viber whatever the session (and are
counted: `out_of_session`); the others wait as `held` and reach the citizen
as one "while you were away" summary on their next message (#17, item 1).

Revision ID: b7d41e9a2c65
Revises: 5e1a7c3d9b20
Create Date: 2026-12-03 16:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db

revision: str = 'b7d41e9a2c65'
down_revision: str | None = '5e1a7c3d9b20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('out_of_session', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('brief', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('stale_at', bot.db.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    # Held messages had no place before: they become what the old code made of
    # them (skipped); summarised ones had reached the citizen in the summary.
    op.execute("UPDATE outbox_message SET status = 'skipped' WHERE status = 'held'")
    op.execute("UPDATE outbox_message SET status = 'sent' WHERE status = 'summarised'")
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('stale_at')
        batch_op.drop_column('brief')
        batch_op.drop_column('out_of_session')
        batch_op.drop_column('purpose')
