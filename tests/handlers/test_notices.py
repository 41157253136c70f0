"""/notices and the notices themselves: where I live and topics, every
notice to exactly the citizens meant, once, in their language, on one
channel; night-time waits; cancel; the way out in every notice; and the
answers to a public debate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.models import (
    ChannelAccount,
    Citizen,
    Notice,
    NoticeAnswer,
    NoticeStatus,
    OutboxMessage,
    OutboxStatus,
    Subscription,
)
from bot.profile import get_profile
from bot.refusals import Refused
from bot.services import notices as service
from tests.factories import make_citizen, make_incoming, make_runtime, texts
from tests.handlers.test_reception import citizen_chat, tap

T = Catalogs()
PROFILE = get_profile()
LOCALES = ["sr_Latn", "sr_Cyrl", "sq", "en"]
TEXTS = {"sr_Latn": "Javna rasprava o budžetu u petak u 18 časova.",
         "sr_Cyrl": "Јавна расправа о буџету у петак у 18 часова.",
         "sq": "Dëgjim publik për buxhetin të premten në ora 18.",
         "en": "Public debate on the budget on Friday at 18:00."}
NOON = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # 12:00 in Klokot
NIGHT = datetime(2026, 12, 2, 22, 30, tzinfo=UTC)  # 23:30 in Klokot


# Quiet hours: run again at night by `make test-night` (KLOKOT_TEST_CLOCK).
pytestmark = pytest.mark.clock


def t(locale: str, key: str, **params: object) -> str:
    return T.gettext(locale, key, **params)


def subscriber(db: Database, external_id: str, *, topics: tuple[str, ...] = ("public_debates",),
               settlement: str | None = "klokot", language: str = "en",
               channel: str = "telegram", blocked: bool = False) -> int:
    citizen_id = make_citizen(db, channel=channel, external_id=external_id,
                              language=language, settlement=settlement, blocked=blocked)
    with db.session() as session:
        for topic in topics:
            session.add(Subscription(citizen_id=citizen_id, topic=topic))
    return citizen_id


def send_notice(db: Database, *, topic: str = "public_debates",
                settlements: list[str] | None = None, rsvp: bool = False,
                now: datetime = NOON) -> int:
    with db.session() as session:
        notice = service.create(session, PROFILE, topic=topic, settlements=settlements,
                                texts=TEXTS, send_at=None, rsvp=rsvp, by="info1", now=now)
        return notice.id


def run_delivery(db: Database, now: datetime = NOON, batch: int = 500) -> int:
    total = 0
    for _ in range(50):
        with db.session() as session:
            queued = service.deliver(session, PROFILE, T, now, batch=batch)
        total += queued
        with db.read_session() as session:
            if not session.scalars(select(Notice).where(
                    Notice.status == NoticeStatus.sending)).all():
                break
    return total


def outbox(db: Database) -> list[OutboxMessage]:
    with db.read_session() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        for row in rows:
            session.expunge(row)
        return rows


@pytest.mark.parametrize("locale", LOCALES)
def test_choose_where_and_topics_in_the_chat(db: Database, locale: str) -> None:
    chat = citizen_chat(db, "ana", locale)
    settings = texts(chat.send("/notices"))
    assert t(locale, "notices.settings", where=t(locale, "notices.where_unknown"),
             count=0) in settings
    assert t(locale, "notices.where_first") in tap(chat, "ntc:t:public_debates")
    tap(chat, "ntc:set:vrbovac")
    tap(chat, "ntc:t:emergencies")
    tap(chat, "ntc:t:diaspora")
    after = tap(chat, "ntc:t:diaspora")  # off again
    vrbovac = PROFILE.settlement("vrbovac")
    assert vrbovac is not None
    assert t(locale, "notices.settings", where=vrbovac.label(locale), count=2) in after
    with db.read_session() as session:
        topics = set(session.scalars(select(Subscription.topic)))
        citizen = session.scalars(select(Citizen)).one()
    assert topics == {"public_debates", "emergencies"} and citizen.settlement == "vrbovac"


def test_abroad_with_a_country_typed_or_chosen(db: Database) -> None:
    chat = citizen_chat(db, "bo", "sr_Latn")
    chat.send("/notices")
    tap(chat, "ntc:where")
    tap(chat, "ntc:set:abroad")
    assert t("sr_Latn", "notices.country_unknown") in texts(chat.send("Atlantida"))
    saved = texts(chat.send("Švedska"))
    assert t("sr_Latn", "notices.saved") in saved
    with db.read_session() as session:
        citizen = session.scalars(select(Citizen)).one()
    assert (citizen.settlement, citizen.country) == ("abroad", "SE")
    tap(chat, "ntc:where")
    tap(chat, "ntc:set:abroad")
    tap(chat, "ncty:AT")
    with db.read_session() as session:
        assert session.scalars(select(Citizen)).one().country == "AT"


def test_each_citizen_gets_the_notices_meant_for_them_once_in_their_language(
        db: Database) -> None:
    klokot_en = subscriber(db, "1", language="en")
    vrbovac_sq = subscriber(db, "2", settlement="vrbovac", language="sq")
    mogila_cyrl = subscriber(db, "3", settlement="mogila", language="sr_Cyrl",
                             channel="viber")
    subscriber(db, "4", topics=("tenders_jobs",))  # another topic
    subscriber(db, "5", topics=())  # nothing
    abroad = subscriber(db, "6", settlement="abroad", language="sr_Latn",
                        topics=("public_debates", "diaspora"))
    with db.session() as session:  # Viber sessions count: this one wrote today
        for account in session.scalars(select(ChannelAccount)):
            account.last_inbound_at = NOON - timedelta(hours=1)

    everyone = send_notice(db)
    local = send_notice(db, settlements=["klokot", "vrbovac"])
    diaspora = send_notice(db, topic="diaspora", settlements=["abroad"])
    run_delivery(db)
    run_delivery(db)  # running again sends nobody anything twice

    rows = outbox(db)
    by_citizen: dict[int, list[str]] = {}
    with db.read_session() as session:
        accounts = {a.id: a.citizen_id for a in session.scalars(select(ChannelAccount))}
    for row in rows:
        by_citizen.setdefault(accounts[row.account_id or 0], []).append(row.body["text"])
    assert len(by_citizen[klokot_en]) == 2 and len(by_citizen[vrbovac_sq]) == 2
    assert len(by_citizen[mogila_cyrl]) == 1 and len(by_citizen[abroad]) == 2
    assert set(by_citizen) == {klokot_en, vrbovac_sq, mogila_cyrl, abroad}
    assert TEXTS["sq"] in by_citizen[vrbovac_sq][0]
    assert TEXTS["sr_Cyrl"] in by_citizen[mogila_cyrl][0]
    assert t("sr_Cyrl", "notices.unsubscribe_topic") in str(rows[2].body["buttons"])
    assert all(row.lane == 1 for row in rows)  # the bulk lane
    with db.read_session() as session:
        for notice_id, expected in ((everyone, 4), (local, 2), (diaspora, 1)):
            notice = session.get(Notice, notice_id)
            assert notice is not None and notice.status is NoticeStatus.sent
            assert service.progress(session, notice).recipients == expected


def test_blocked_citizens_are_counted_not_sent_and_viber_ones_wait(db: Database) -> None:
    subscriber(db, "1")
    subscriber(db, "2", blocked=True)
    viber = subscriber(db, "3", channel="viber")  # the profile forbids bot-started messages
    with db.session() as session:  # and the citizen last wrote two days before the notice
        session.execute(update(ChannelAccount).where(ChannelAccount.citizen_id == viber)
                        .values(last_inbound_at=NOON - timedelta(days=2)))
    notice_id = send_notice(db)
    run_delivery(db)
    # The Viber citizen's copy waits for their next message (its summary).
    assert sorted((row.chat_id, row.status) for row in outbox(db)) == [
        ("1", OutboxStatus.queued), ("3", OutboxStatus.held)]
    with db.read_session() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        progress = service.progress(session, notice)
    assert (progress.recipients, progress.pending, progress.blocked, progress.skipped) == (
        3, 2, 1, 0)


def test_ordinary_notices_wait_for_the_morning_emergencies_do_not(db: Database) -> None:
    subscriber(db, "1", topics=("public_debates", "emergencies"))
    ordinary = send_notice(db, now=NIGHT)
    emergency = send_notice(db, topic="emergencies", now=NIGHT)
    run_delivery(db, NIGHT)
    assert len(outbox(db)) == 1 and TEXTS["en"] in outbox(db)[0].body["text"]
    with db.read_session() as session:
        waiting = session.get(Notice, ordinary)
        assert waiting is not None and waiting.status is NoticeStatus.scheduled
        done = session.get(Notice, emergency)
        assert done is not None and done.status is NoticeStatus.sent
    run_delivery(db, NIGHT + timedelta(hours=9))  # 08:30 the next morning
    assert len(outbox(db)) == 2


def test_a_linked_citizen_gets_one_copy_on_the_chosen_channel(db: Database) -> None:
    citizen_id = subscriber(db, "tg-1")
    with db.session() as session:  # Telegram was used an hour before Viber
        session.execute(update(ChannelAccount).where(ChannelAccount.citizen_id == citizen_id)
                        .values(last_inbound_at=NOON - timedelta(hours=1)))
        session.add(ChannelAccount(citizen_id=citizen_id, channel="viber", external_id="vb-1",
                                   chat_id="vb-1", last_inbound_at=NOON))
    send_notice(db)
    run_delivery(db)
    [row] = outbox(db)
    assert row.channel == "viber"  # the one used last
    with db.session() as session:
        citizen = session.get(Citizen, citizen_id)
        telegram = session.scalar(select(ChannelAccount).where(
            ChannelAccount.channel == "telegram"))
        assert citizen is not None and telegram is not None
        citizen.notice_account_id = telegram.id
    send_notice(db)
    run_delivery(db)
    assert [row.channel for row in outbox(db)] == ["viber", "telegram"]


def test_cancel_stops_what_has_not_left(db: Database) -> None:
    for n in range(5):
        subscriber(db, str(n))
    notice_id = send_notice(db)
    run_delivery(db, batch=2)
    with db.session() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        assert service.cancel(session, notice, by="info1", now=NOON)
    run_delivery(db)
    assert {row.status for row in outbox(db)} == {OutboxStatus.skipped}
    with db.read_session() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None and notice.status is NoticeStatus.cancelled


@pytest.mark.parametrize(("change", "code"), [
    ({"topic": "football"}, "unknown_topic"),
    ({"settlements": ["belgrade"]}, "unknown_settlement"),
    ({"settlements": []}, "unknown_settlement"),
    ({"texts": {k: v for k, v in TEXTS.items() if k != "sq"}}, "missing_translation"),
    ({"texts": {**TEXTS, "sr_Cyrl": "   "}}, "missing_translation"),
    ({"texts": {**TEXTS, "de": "Hallo"}}, "unknown_locale"),
    ({"texts": {**TEXTS, "en": "x" * 3001}}, "text_too_long"),
    ({"send_at": NOON - timedelta(hours=1)}, "send_at_in_past"),
])
def test_a_notice_with_a_problem_is_refused(db: Database, change: dict[str, object],
                                            code: str) -> None:
    fields: dict[str, object] = {"topic": "public_debates", "settlements": None,
                                 "texts": TEXTS, "send_at": None, "rsvp": False, **change}
    with db.session() as session, pytest.raises(Refused) as refused:
        service.create(session, PROFILE, by="info1", now=NOON, **fields)  # type: ignore[arg-type]
    assert refused.value.code == code
    with db.read_session() as session:
        assert session.scalars(select(Notice)).all() == []


def test_the_way_out_of_a_topic_and_of_everything(db: Database) -> None:
    chat = citizen_chat(db, "cira", "sq")
    chat.send("/notices")
    tap(chat, "ntc:t:public_debates")
    tap(chat, "ntc:set:klokot")
    tap(chat, "ntc:t:assembly")
    send_notice(db)
    run_delivery(db)
    received = texts(chat.deliver())
    assert TEXTS["sq"] in received
    answer = tap(chat, "ntc:off:public_debates")
    assert t("sq", "notices.unsubscribed", topic="Dëgjimet publike") == answer
    tap(chat, "ntc:t:public_debates")  # undo
    with db.read_session() as session:
        assert set(session.scalars(select(Subscription.topic))) == {"public_debates",
                                                                     "assembly"}
    chat.send("/notices")
    assert tap(chat, "ntc:stop").startswith(t("sq", "notices.stopped"))
    with db.read_session() as session:
        assert session.scalars(select(Subscription)).all() == []


def test_public_debate_answers(db: Database) -> None:
    chat = citizen_chat(db, "dara", "en")
    chat.send("/notices")
    tap(chat, "ntc:t:public_debates")
    tap(chat, "ntc:set:grncar")
    notice_id = send_notice(db, rsvp=True)
    run_delivery(db)
    chat.deliver()
    assert tap(chat, f"rsvp:yes:{notice_id}") .startswith(t("en", "notices.rsvp_counted"))
    assert tap(chat, f"rsvp:ask:{notice_id}") == t("en", "notices.ask_question", min=10,
                                                   max=1000)
    assert t("en", "notices.question_short", min=10) in texts(chat.send("why?"))
    saved = texts(chat.send("Will the new road to Grnčar be in the budget?"))
    assert saved == t("en", "notices.question_saved")
    runtime = make_runtime(db)
    again = runtime.engine.handle(make_incoming(user="dara", payload=f"rsvp:yes:{notice_id}"))
    assert texts(again.replies).startswith(t("en", "notices.rsvp_already"))
    with db.session() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        assert service.answers_by_settlement(session, notice) == {
            "grncar": {"coming": 1, "questions": 1}}
        service.cancel(session, notice, by="info1", now=utcnow())
    late = runtime.engine.handle(make_incoming(user="dara", payload=f"rsvp:yes:{notice_id}"))
    assert texts(late.replies) == t("en", "notices.rsvp_cancelled")
    forged = runtime.engine.handle(make_incoming(user="dara", payload="rsvp:yes:999999"))
    assert t("en", "error.stale_button") in texts(forged.replies)
    with db.read_session() as session:
        assert len(session.scalars(select(NoticeAnswer)).all()) == 2
