"""wrong one-time codes per chat, per link code, and the audit's complete references

Revision ID: 7eebddbeca68
Revises: 28e2b96b4386
Create Date: 2026-12-03 12:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db

revision: str = '7eebddbeca68'
down_revision: str | None = '28e2b96b4386'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('code_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['channel_account.id'], name=op.f('fk_code_attempt_account_id_channel_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_code_attempt')),
    sa.UniqueConstraint('purpose', 'account_id', name=op.f('uq_code_attempt_purpose_account_id'))
    )
    with op.batch_alter_table('code_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_code_attempt_account_id'), ['account_id'], unique=False)

    with op.batch_alter_table('link_code', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wrong_guesses', sa.Integer(), nullable=False,
                                      server_default='0'))

    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('item_references', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_column('item_references')

    with op.batch_alter_table('link_code', schema=None) as batch_op:
        batch_op.drop_column('wrong_guesses')

    with op.batch_alter_table('code_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_code_attempt_account_id'))

    op.drop_table('code_attempt')
