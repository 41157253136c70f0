"""Alembic environment: the URL comes from the caller's config or the settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, pool

import bot.models  # noqa: F401  (registers every table on Base.metadata)
from bot.config import get_settings
from bot.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch rebuild drops the old table: with foreign keys on, that
        # drop would cascade (subscriptions, answers…) or fail. The pragma only
        # works outside a transaction, so it goes to the driver before ours begins.
        _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"a migration broke foreign keys: {broken[:5]}")
    if sqlite:
        _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")


def _sqlite_pragma(connection: Connection, statement: str) -> None:
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
