"""Held messages (#17, item 1): what waited for a Viber citizen comes as one
summary on their next message — out-of-date items by their beginning only,
a long list cut short — and a notice that waited counts as reached; one
given up (erased citizen, cancelled notice, past the retention) never comes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.clock import FixedClock
from bot.db import Database, utcnow
from bot.messages import Reply
from bot.models import ChannelAccount, Notice, OutboxMessage, OutboxStatus, Subscription
from bot.outbox.held import SUMMARY_ITEMS, TITLE_MAX
from bot.outbox.queue import Purpose, brief_of, enqueue
from bot.profile import get_profile
from bot.services import data_rights
from bot.services import notices as notices_service
from tests.factories import make_citizen, make_incoming, make_runtime

PROFILE = get_profile()
LONG = "Water will be cut in Mogila on Friday from 8 to 14 while the main pipe is repaired. " * 3


def silent_viber_citizen(db: Database, external_id: str, language: str = "en") -> int:
    """A Viber citizen who last wrote two days ago."""
    citizen_id = make_citizen(db, channel="viber", external_id=external_id, language=language)
    with db.session() as session:
        session.execute(update(ChannelAccount).where(ChannelAccount.citizen_id == citizen_id)
                        .values(last_inbound_at=utcnow() - timedelta(days=2)))
    return citizen_id


def hold(db: Database, citizen_id: int, text: str, *, purpose: Purpose = Purpose.complaint_update,
         stale_in: timedelta | None = None) -> None:
    with db.session() as session:
        account = session.scalars(select(ChannelAccount).where(
            ChannelAccount.citizen_id == citizen_id)).one()
        row = enqueue(session, account, Reply(text), profile=PROFILE, origin="bot",
                      purpose=purpose,
                      stale_at=utcnow() + stale_in if stale_in is not None else None)
        assert row.status is OutboxStatus.held


def statuses(db: Database) -> list[OutboxStatus]:
    with db.read_session() as session:
        return list(session.scalars(select(OutboxMessage.status).where(
            OutboxMessage.origin == "bot").order_by(OutboxMessage.id)))


def test_out_of_date_items_come_by_their_beginning_only(db: Database) -> None:
    runtime = make_runtime(db)
    citizen_id = silent_viber_citizen(db, "vb-1")
    hold(db, citizen_id, "Your complaint C-2026-0001 is being handled.")
    hold(db, citizen_id, LONG, purpose=Purpose.notice, stale_in=timedelta(hours=-1))
    result = runtime.engine.handle(make_incoming("hello", channel="viber", user="vb-1"))
    summary = result.replies[0].text.split("\n")
    t = runtime.catalogs.translator("en")
    assert summary[:2] == [t("away.summary"), "• Your complaint C-2026-0001 is being handled."]
    assert t("away.out_of_date") in summary
    title = summary[summary.index(t("away.out_of_date")) + 1]
    assert title == "• " + brief_of(LONG, TITLE_MAX) and len(title) <= TITLE_MAX + 2
    assert statuses(db) == [OutboxStatus.summarised] * 2


def test_a_long_wait_is_cut_short_and_points_to_status(db: Database) -> None:
    runtime = make_runtime(db)
    citizen_id = silent_viber_citizen(db, "vb-2", language="sq")
    for n in range(SUMMARY_ITEMS + 3):
        hold(db, citizen_id, f"Përgjigjja nr. {n}")
    result = runtime.engine.handle(make_incoming("përshëndetje", channel="viber", user="vb-2"))
    lines = result.replies[0].text.split("\n")
    assert len([line for line in lines if line.startswith("• ")]) == SUMMARY_ITEMS
    assert lines[-1] == runtime.catalogs.gettext("sq", "away.more")
    assert statuses(db) == [OutboxStatus.summarised] * (SUMMARY_ITEMS + 3)  # all told of


def test_a_notice_that_waited_counts_as_reached_once_summarised(db: Database,
                                                                clock: FixedClock) -> None:
    runtime = make_runtime(db)
    citizen_id = silent_viber_citizen(db, "vb-3", language="sr_Latn")
    with db.session() as session:
        session.add(Subscription(citizen_id=citizen_id, topic="public_debates"))
        notice = notices_service.create(
            session, PROFILE, topic="public_debates", settlements=None, rsvp=False, by="info1",
            texts={loc: f"Javna rasprava ({loc})" for loc in PROFILE.enabled_locales},
            send_at=None, now=utcnow())
        notice_id = notice.id
    with db.session() as session:  # at noon (the clock): ordinary notices go in the day
        notices_service.deliver(session, PROFILE, runtime.catalogs, utcnow())
    assert statuses(db) == [OutboxStatus.held]
    runtime.engine.handle(make_incoming("zdravo", channel="viber", user="vb-3"))
    with db.read_session() as session:
        notice = session.get_one(Notice, notice_id)
        progress = notices_service.progress(session, notice)
    assert (progress.sent, progress.pending, progress.skipped) == (1, 0, 0)


def test_what_is_given_up_never_comes(db: Database) -> None:
    runtime = make_runtime(db)
    erased = silent_viber_citizen(db, "vb-4")
    hold(db, erased, "Your complaint C-2026-0002 is resolved.")
    with db.session() as session:
        account = session.scalars(select(ChannelAccount).where(
            ChannelAccount.citizen_id == erased)).one()
        data_rights.erase(session, account.citizen, now=utcnow())
    old = silent_viber_citizen(db, "vb-5")
    hold(db, old, "Your complaint C-2026-0003 is resolved.")
    with db.session() as session:
        data_rights.apply_retention(session, PROFILE,
                                    utcnow() + timedelta(days=PROFILE.retention_days + 1))
    assert statuses(db) == [OutboxStatus.skipped, OutboxStatus.skipped]
    result = runtime.engine.handle(make_incoming("hello", channel="viber", user="vb-5"))
    assert all("C-2026-0003" not in reply.text for reply in result.replies)
