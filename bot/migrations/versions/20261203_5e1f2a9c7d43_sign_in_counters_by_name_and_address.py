"""sign-in counters by name and address

Failed sign-ins were counted on the account (`staff_user.failed_logins`,
`locked_until`): a stranger's five wrong passwords locked the officer out of
their own office, and only real usernames were counted. They are now counted
per address, per (name, address) and per name, in `sign_in_counter`.

Revision ID: 5e1f2a9c7d43
Revises: 7eebddbeca68
Create Date: 2026-12-03 12:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db

revision: str = '5e1f2a9c7d43'
down_revision: str | None = '7eebddbeca68'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sign_in_counter',
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('window_start', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kind', 'username', 'address', name=op.f('pk_sign_in_counter'))
    )
    # SQLite rebuilds the table: it must keep AUTOINCREMENT (ids never reused).
    with op.batch_alter_table('staff_user', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')


def downgrade() -> None:
    with op.batch_alter_table('staff_user', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('locked_until', bot.db.UTCDateTime(timezone=True),
                                      nullable=True))
    op.drop_table('sign_in_counter')
