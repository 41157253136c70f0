"""Engine, sessions and the declarative base.

SQLite is the embedded default: WAL, foreign keys on, and every write
transaction opened with BEGIN IMMEDIATE so that concurrent writers queue on the
busy timeout instead of failing half-way with "database is locked". Sessions
made by `read_session` open a deferred transaction, so staff pages reading
lists do not queue behind citizens' writes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from bot import clock

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
READ_ONLY = "klokot_read_only"
PG_CONNECT_TIMEOUT = 3  # seconds


def insert_for(session_or_dialect: Session | str) -> Any:
    """The dialect's INSERT (with ON CONFLICT): PostgreSQL's, else SQLite's."""
    dialect = session_or_dialect if isinstance(session_or_dialect, str) else (
        session_or_dialect.get_bind().dialect.name)
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def utcnow() -> datetime:
    """Now, from the process's one clock (`bot.clock`): the system's unless the
    Runtime, a test or the bench installed another."""
    return clock.now()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


def private_sqlite_file(url: str) -> None:
    """The SQLite file holds citizens' data: its folder is made readable by the
    service's user only (0700) and the file itself 0600, before SQLite makes it
    (SQLite gives its -wal and -shm files the same permissions)."""
    database = make_url(url).database
    if not url.startswith("sqlite") or not database or database == ":memory:":
        return
    path = Path(database)
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    if path.exists():
        path.chmod(0o600)
    else:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the one engine of a process; SQLite gets its pragmas and IMMEDIATE writes."""
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        connect_args = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
        return engine
    if "poolclass" not in kwargs:
        kwargs = {"pool_size": 10, "max_overflow": 20, **kwargs}
    # pool_pre_ping: a connection the server dropped (a restart) is replaced at
    # checkout; connect_timeout: an unreachable server is an error within
    # seconds (the webhook answers 503), not a request hanging on the network.
    connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT, **kwargs.pop("connect_args", {})}
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    _drop_nul_characters(engine)
    return engine


def _without_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) and "\x00" in value else value


def _drop_nul_characters(engine: Engine) -> None:
    """PostgreSQL text cannot hold NUL (0x00), which anyone can type into a
    chat, a form or a query string; drop it instead of failing the request."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _clean(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> tuple[str, Any]:
        if isinstance(parameters, dict):
            parameters = {key: _without_nul(value) for key, value in parameters.items()}
        elif isinstance(parameters, list | tuple):
            parameters = type(parameters)(
                {k: _without_nul(v) for k, v in p.items()} if isinstance(p, dict)
                else _without_nul(p) for p in parameters)
        return statement, parameters


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine with its two session factories; made once per process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self._writer: int | None = None
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()
        )
        self.read_factory = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction: committed at the end, rolled back on error.

        On SQLite, writers of this process queue on a lock rather than on
        SQLite's busy handler, which sleeps in growing steps and would turn
        a burst of concurrent webhooks into milliseconds of idle waiting."""
        if self._writer == threading.get_ident():
            # Waiting for ourselves would hang forever: say so instead.
            raise RuntimeError("a write transaction is already open in this thread; "
                               "pass its session down instead of opening another")
        with self._write_lock:
            self._writer = threading.get_ident() if self.is_sqlite else None
            try:
                with self.session_factory() as session, session.begin():
                    yield session
            finally:
                self._writer = None

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        with self.read_factory() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
