"""ids never reused on SQLite; document requests forwarded to a department

1. Ids are never reused (#13, item 15). Without AUTOINCREMENT SQLite gives a
   new row the highest id + 1, so when the highest citizen is merged away by
   /link the next newcomer inherits its id — its survey token, its export
   folder and the audit entries naming it. The three tables whose rows can
   go while their ids are named elsewhere are rebuilt with AUTOINCREMENT:
   citizen (merge), channel_account (an officer's chat link, the outbox, the
   audit) and staff_user (audit entries, tokens). PostgreSQL's sequences never
   hand out an id twice: nothing to do there. The rebuild copies each table
   and drops the old one; env.py turns SQLite's foreign keys off for
   migrations so the drop cascades nothing, and checks them afterwards.

2. `document_request.forwarded_department` (#13, item 17): the department
   the info office forwarded the request to within the municipality; only its
   officers see and act on the request (the citizen's guess gives them
   nothing). Existing requests start unforwarded: the info office forwards
   the open ones after the upgrade.

Revision ID: 28e2b96b4386
Revises: 4bc43018fd39
Create Date: 2026-12-03 12:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '28e2b96b4386'
down_revision: str | None = '4bc43018fd39'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEVER_REUSED = ("citizen", "channel_account", "staff_user")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in NEVER_REUSED:
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass


def upgrade() -> None:
    _rebuild(True)
    with op.batch_alter_table('document_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('forwarded_department', sa.String(length=32),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_document_request_forwarded_department'),
                              ['forwarded_department'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('document_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_request_forwarded_department'))
        batch_op.drop_column('forwarded_department')
    _rebuild(False)
