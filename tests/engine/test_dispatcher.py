"""The engine: updates recorded once, failures kept and apologised for, an
unreachable database reported (so the platform redelivers), per-user rows."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from bot.db import Database
from bot.engine.dispatcher import DatabaseUnavailable, Engine
from bot.engine.router import Router, RouterSet
from bot.i18n import Catalogs
from bot.messages import Kind
from bot.models import (
    ChannelAccount,
    Citizen,
    Conversation,
    InboundStatus,
    InboundUpdate,
    OutboxMessage,
)
from bot.profile import get_profile
from handlers import ROUTERS
from tests.factories import make_incoming, make_runtime, texts


def count(db: Database, model: type) -> int:
    with db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_same_update_twice_is_handled_once(db: Database) -> None:
    engine = make_runtime(db).engine
    first = engine.handle(make_incoming("/start", update_key="42"))
    again = engine.handle(make_incoming("/start", update_key="42"))
    assert first.replies and not first.duplicate
    assert again.duplicate and not again.replies
    assert count(db, OutboxMessage) == 1
    assert count(db, InboundUpdate) == 1


def test_same_key_on_another_channel_is_another_update(db: Database) -> None:
    engine = make_runtime(db).engine
    engine.handle(make_incoming("/start", update_key="7", channel="telegram"))
    result = engine.handle(make_incoming("/start", update_key="7", channel="viber"))
    assert not result.duplicate
    assert count(db, ChannelAccount) == 2


def _boom_routes() -> RouterSet:
    broken = Router("broken")

    @broken.command("boom")
    def boom(ctx: object) -> None:
        raise RuntimeError("handler bug")

    return RouterSet.of([*ROUTERS, broken])


def test_a_failing_handler_keeps_the_update_and_apologises(db: Database) -> None:
    engine = Engine(db, get_profile(), Catalogs(), _boom_routes())
    engine.handle(make_incoming("/start", user="bo"))
    result = engine.handle(make_incoming("/boom", user="bo", update_key="boom-1"))
    assert result.failed
    assert Catalogs().gettext("sr_Latn", "error.internal") in texts(result.replies)
    with db.read_session() as session:
        row = session.scalars(select(InboundUpdate).where(InboundUpdate.update_key == "boom-1")
                              ).one()
        assert row.status is InboundStatus.failed
        assert "handler bug" in (row.error or "")
        assert row.payload and row.payload["kind"] == "command"  # kept for a replay
    # A redelivery of the failed update is not handled (nor apologised for) again.
    assert engine.handle(make_incoming("/boom", user="bo", update_key="boom-1")).duplicate


def test_unreachable_database_is_reported_not_swallowed(tmp_path: object) -> None:
    dead = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    engine = Engine(dead, get_profile(), Catalogs(), RouterSet.of(ROUTERS))
    with pytest.raises(DatabaseUnavailable):
        engine.handle(make_incoming("/start"))


def test_one_conversation_row_per_channel_and_user(db: Database) -> None:
    engine = make_runtime(db).engine
    for _ in range(3):
        engine.handle(make_incoming("hello", user="same"))
    engine.handle(make_incoming("hello", user="other"))
    assert count(db, Conversation) == 2
    assert count(db, Citizen) == 2


def test_concurrent_first_messages_create_one_account(db: Database) -> None:
    engine = make_runtime(db).engine
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            engine.handle(make_incoming("hi", user="racer", update_key=f"race-{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert count(db, ChannelAccount) == 1
    assert count(db, Conversation) == 1
    assert count(db, InboundUpdate) == 8


@pytest.mark.parametrize("kind", [Kind.blocked, Kind.unblocked, Kind.ignored])
def test_platform_events_are_recorded_without_a_reply(db: Database, kind: Kind) -> None:
    engine = make_runtime(db).engine
    engine.handle(make_incoming("/start", user="ev"))
    result = engine.handle(make_incoming(kind=kind, user="ev"))
    assert not result.replies and not result.failed
    with db.read_session() as session:
        account = session.scalars(select(ChannelAccount)).one()
        assert (account.blocked_at is not None) == (kind is Kind.blocked)


@pytest.mark.parametrize("kind", [Kind.sticker, Kind.photo, Kind.unsupported, Kind.location,
                                  Kind.contact, Kind.file])
def test_odd_input_at_the_menu_gets_a_polite_answer(db: Database, kind: Kind) -> None:
    engine = make_runtime(db).engine
    engine.handle(make_incoming("/start", user="odd"))
    engine.handle(make_incoming(payload="lang:en", user="odd"))
    engine.handle(make_incoming(payload="privacy:ok", user="odd"))
    result = engine.handle(make_incoming(kind=kind, user="odd"))
    assert not result.failed
    assert "I did not understand" in texts(result.replies)


def test_huge_and_mixed_script_text_is_answered(db: Database) -> None:
    engine = make_runtime(db).engine
    engine.handle(make_incoming("/start", user="big"))
    engine.handle(make_incoming(payload="lang:sq", user="big"))
    engine.handle(make_incoming(payload="privacy:ok", user="big"))
    for text in ("ж" * 20_000, "Здраво Përshëndetje 👋🏽 مرحبا \u200f\u0000", "🙂" * 5000):
        result = engine.handle(make_incoming(text, user="big"))
        assert not result.failed and result.replies


def test_a_nested_write_transaction_is_an_error_not_a_hang(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("PostgreSQL allows concurrent write transactions")
    with db.session(), pytest.raises(RuntimeError, match="already open"), db.session():
        pass


def test_nul_characters_are_dropped_not_fatal(db: Database) -> None:
    engine = make_runtime(db).engine
    engine.handle(make_incoming("/start", user="nul"))
    engine.handle(make_incoming(payload="lang:en", user="nul"))
    engine.handle(make_incoming(payload="privacy:ok", user="nul"))
    engine.handle(make_incoming("/reception", user="nul"))
    engine.handle(make_incoming(payload="rk:urgent", user="nul"))
    result = engine.handle(make_incoming("Voda\x00 curi iz cevi na ulici.", user="nul"))
    assert not result.failed
    result = engine.handle(make_incoming("044\x00 123 456", user="nul"))
    assert not result.failed and "+38344123456" in texts(result.replies)


def test_nul_never_reaches_the_database_whatever_the_path(db: Database) -> None:
    from bot.models.staff import AuditEntry

    with db.session() as session:
        session.add(AuditEntry(username="a\x00b", action="x\x00y", detail="d\x00"))
    with db.read_session() as session:
        found = session.scalars(select(AuditEntry).where(AuditEntry.username == "a\x00b")).all()
    if not db.is_sqlite:  # on PostgreSQL the NUL is dropped on the way in and on the way out
        assert [(e.username, e.action) for e in found] == [("ab", "xy")]
