"""Alembic: one head, and the migrations build exactly what the models say."""

from __future__ import annotations

import stat
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from bot.db import Base, Database
from bot.migrate import heads, upgrade


def test_single_head() -> None:
    assert len(heads()) == 1


def test_migrations_match_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_the_sqlite_database_is_private_to_the_service(tmp_path: Path) -> None:
    """Citizens' data must not be readable by other users of the server
    (security review, item 11: the file was created 0644)."""
    folder = tmp_path / "data"
    url = f"sqlite:///{folder / 'klokot.db'}"
    upgrade(url)
    database = Database(url)
    with database.session() as session:  # a write makes SQLite's -wal file too
        session.execute(text("UPDATE reference_counter SET last = last"))
    database.dispose()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
