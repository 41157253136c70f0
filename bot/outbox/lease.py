"""Electing the one sender: a PostgreSQL advisory lock held on a dedicated
connection, or on SQLite a heartbeat row that the holder renews.

Whichever process holds the lease runs the sender loop and the timers; the
others wait and try again, so several web workers never send twice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import Connection, select, text, update
from sqlalchemy.dialects import sqlite

from bot.db import Database, utcnow
from bot.models import OutboxMessage, OutboxStatus, SenderLease

log = logging.getLogger(__name__)
LEASE_NAME = "sender"
ADVISORY_KEY = 0x6B6C6F6B  # "klok"


def holder(db: Database) -> str | None:
    """Who holds the sender lease now, as seen from outside (`klokot-bot
    doctor`, `/metrics`): the holder's name on SQLite, the PostgreSQL backend's pid for the
    advisory lock; None when nobody does (nothing is being sent)."""
    if db.is_sqlite:
        with db.read_session() as session:
            row = session.scalars(select(SenderLease).where(
                SenderLease.name == LEASE_NAME, SenderLease.expires_at > utcnow())).first()
            return row.holder if row is not None else None
    with db.engine.connect() as connection:
        # pg_try_advisory_lock(bigint) shows as classid = high, objid = low 32 bits.
        pid = connection.execute(text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = :high AND objid = :low AND objsubid = 1"
        ), {"high": ADVISORY_KEY >> 32, "low": ADVISORY_KEY & 0xFFFFFFFF}).scalar()
        return f"PostgreSQL backend {pid}" if pid is not None else None


class Lease:
    """Held or not; `acquire` and `renew` are cheap and safe to call often."""

    def __init__(self, db: Database, ttl_seconds: float = 15.0, holder: str | None = None):
        self.db = db
        self.ttl = timedelta(seconds=ttl_seconds)
        self.holder = holder or f"sender-{uuid.uuid4().hex[:12]}"
        self._pg_connection: Connection | None = None
        self.held = False

    def acquire(self) -> bool:
        """Try to become the sender; on success, queue again what a dead
        predecessor left `sending` (the at-least-once crash policy)."""
        got = self._acquire_pg() if not self.db.is_sqlite else self._acquire_row()
        if got and not self.held:
            requeued = self._requeue_orphans()  # may fail: then taken again next time
            self.held = True
            log.info("sender lease acquired by %s (%d orphaned messages queued again)",
                     self.holder, requeued)
        elif not got:
            self.held = False
        return got

    def renew(self) -> bool:
        if self.db.is_sqlite:
            self.held = self._acquire_row()
        else:
            self.held = self._pg_alive()
        return self.held

    def release(self) -> None:
        if self.db.is_sqlite:
            self.held = False
            with self.db.session() as session:
                session.execute(
                    update(SenderLease)
                    .where(SenderLease.name == LEASE_NAME, SenderLease.holder == self.holder)
                    .values(expires_at=utcnow())
                )
        elif self._pg_connection is not None:
            try:
                self._pg_connection.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY}
                )
                self._pg_connection.commit()
                self._pg_connection.close()
            except Exception:
                log.debug("advisory unlock failed", exc_info=True)
            self._pg_connection = None
        self.held = False

    # --- SQLite: heartbeat row --------------------------------------------
    def _acquire_row(self) -> bool:
        now = utcnow()
        with self.db.session() as session:
            session.execute(
                sqlite.insert(SenderLease)
                .values(name=LEASE_NAME, holder=self.holder, expires_at=now + self.ttl)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            taken = session.execute(  # type: ignore[attr-defined]
                update(SenderLease)
                .where(
                    SenderLease.name == LEASE_NAME,
                    (SenderLease.holder == self.holder) | (SenderLease.expires_at < now),
                )
                .values(holder=self.holder, expires_at=now + self.ttl)
            ).rowcount  # CursorResult for an UPDATE
            return bool(taken)

    # --- PostgreSQL: advisory lock on a connection of its own ---------------
    def _acquire_pg(self) -> bool:
        if self._pg_connection is not None and self._pg_alive():
            return True
        connection = self.db.engine.connect()
        got = bool(connection.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}
        ).scalar())
        connection.commit()
        if got:
            self._pg_connection = connection
        else:
            connection.close()
        return got

    def _pg_alive(self) -> bool:
        if self._pg_connection is None:
            return False
        try:
            self._pg_connection.execute(text("SELECT 1"))
            self._pg_connection.commit()
            return True
        except Exception:
            log.warning("sender lost its database connection, and with it the lease")
            connection, self._pg_connection = self._pg_connection, None
            try:  # the server side is gone (and its advisory lock with it)
                connection.invalidate()
                connection.close()
            except Exception:
                log.debug("closing the lost lease connection failed", exc_info=True)
            return False

    def _requeue_orphans(self) -> int:
        with self.db.session() as session:
            orphans = session.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.status == OutboxStatus.sending,
                    (OutboxMessage.claimed_by != self.holder)
                    | OutboxMessage.claimed_by.is_(None),
                )
            ).all()
            if orphans:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(orphans))
                    .values(status=OutboxStatus.queued, claimed_by=None, next_attempt_at=utcnow())
                )
            return len(orphans)
