"""ids are never reused on SQLite (AUTOINCREMENT)

Without AUTOINCREMENT SQLite gives a new row the highest id + 1, so when the
highest citizen is merged away by /link the next newcomer inherits its id —
its survey token, its export folder and the audit entries naming it (#13,
item 15). The three tables whose rows can go while their ids are named
elsewhere are rebuilt with AUTOINCREMENT: citizen (merge), channel_account
(an officer's chat link, the outbox, the audit) and staff_user (audit
entries, tokens). PostgreSQL's sequences never hand out an id twice: nothing
to do there.

The rebuild copies each table and drops the old one; env.py turns SQLite's
foreign keys off for migrations so the drop cascades nothing, and checks
them afterwards.

Revision ID: 28e2b96b4386
Revises: 4bc43018fd39
Create Date: 2026-12-03 12:40:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '28e2b96b4386'
down_revision: str | None = '4bc43018fd39'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("citizen", "channel_account", "staff_user")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
