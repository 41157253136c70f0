"""Ids are never handed out twice (#13, item 15). Without AUTOINCREMENT,
SQLite gives a new row the highest id + 1, so deleting the highest row (a
citizen merged away by /link) lets the next newcomer inherit its id — with
the survey token derived from it, its export folder and the audit entries
that name it. PostgreSQL's sequences never go back; the test runs on both."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, delete, inspect, select, text

from bot.db import Database
from bot.migrate import upgrade
from bot.models import ChannelAccount, Citizen, StaffUser
from bot.services.linking import merge
from tests.factories import make_citizen, make_incoming, make_runtime, make_staff

# Rows of these tables go away (a merge, an erased account, a removed officer)
# while their ids live on elsewhere: audit entries, tokens, file folders.
NEVER_REUSED = ("citizen", "channel_account", "staff_user")


def test_a_newcomer_does_not_inherit_a_merged_citizens_id(db: Database) -> None:
    first, _second, third = (make_citizen(db, external_id=str(n)) for n in (1, 2, 3))
    with db.session() as session:
        keep, other = session.get(Citizen, first), session.get(Citizen, third)
        assert keep is not None and other is not None
        merge(session, keep, other)  # the highest citizen is gone
    make_runtime(db).engine.handle(make_incoming("/start", user="newcomer"))
    with db.read_session() as session:
        newcomer = session.scalar(select(ChannelAccount.citizen_id).where(
            ChannelAccount.external_id == "newcomer"))
    assert newcomer is not None and newcomer > third


def test_deleted_accounts_and_officers_leave_their_ids_unused(db: Database) -> None:
    make_citizen(db, external_id="1")
    make_citizen(db, external_id="2")
    make_staff(db, "first")
    last_staff = make_staff(db, "second")
    with db.session() as session:
        last_account = session.scalar(select(ChannelAccount.id).order_by(
            ChannelAccount.id.desc()).limit(1))
        session.execute(delete(ChannelAccount).where(ChannelAccount.id == last_account))
        session.execute(delete(StaffUser).where(StaffUser.id == last_staff))
    make_citizen(db, external_id="3")
    assert make_staff(db, "third") > last_staff
    with db.read_session() as session:
        newest = session.scalar(select(ChannelAccount.id).where(
            ChannelAccount.external_id == "3"))
    assert last_account is not None and newest is not None and newest > last_account


def test_the_migrated_sqlite_tables_say_autoincrement(db: Database) -> None:
    if not db.is_sqlite:
        return  # PostgreSQL: sequences, nothing to say
    with db.engine.connect() as conn:
        for table in NEVER_REUSED:
            sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = :name"),
                              {"name": table})
            assert "AUTOINCREMENT" in sql, table
        # the rebuilt tables kept their indexes and foreign keys
        assert {i["name"] for i in inspect(conn).get_indexes("channel_account")} >= {
            "ix_channel_account_citizen_id"}
        assert inspect(conn).get_foreign_keys("channel_account")[0]["referred_table"] == \
            "citizen"


def test_the_rebuild_keeps_every_row_and_what_points_at_them(tmp_path: Path) -> None:
    """Upgrading a database in use: the rebuilt tables keep their rows, and
    rows pointing at them (subscriptions cascade on a dropped citizen!) stay."""
    url = f"sqlite:///{tmp_path / 'klokot.db'}"
    upgrade(url, "4bc43018fd39")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("PRAGMA foreign_keys=ON"))
        conn.execute(text("INSERT INTO citizen (id, created_at, last_seen_at) VALUES "
                          "(1, '2026-12-01', '2026-12-01'), (2, '2026-12-01', '2026-12-01')"))
        conn.execute(text(
            "INSERT INTO channel_account (id, citizen_id, channel, external_id, chat_id, "
            "first_seen_at, last_inbound_at) VALUES (7, 2, 'viber', 'v', 'v', '2026-12-01', "
            "'2026-12-01')"))
        conn.execute(text("UPDATE citizen SET notice_account_id = 7 WHERE id = 2"))
        conn.execute(text("INSERT INTO subscription (citizen_id, topic, created_at) "
                          "VALUES (2, 'public_debates', '2026-12-01')"))
        conn.execute(text(
            "INSERT INTO conversation (account_id, data, updated_at) "
            "VALUES (7, '{}', '2026-12-01')"))
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM citizen")) == 2
        assert conn.scalar(text("SELECT notice_account_id FROM citizen WHERE id = 2")) == 7
        assert conn.scalar(text("SELECT count(*) FROM subscription")) == 1
        assert conn.scalar(text("SELECT count(*) FROM conversation")) == 1
        assert conn.scalar(text("SELECT citizen_id FROM channel_account")) == 2
        assert conn.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = 'citizen'")) == 2
    engine.dispose()
