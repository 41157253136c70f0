"""What reaches a citizen registered for SMS at the counter (issue #19),
besides notices: the reception reminder the day before, and "your request
or complaint changed — call or visit" with its reference, both as SMS rows
in the outbox (no buttons); and a chat citizen who shares the same number:
asked whether the registration is theirs, on yes one citizen (choosing
where notices go), on no nothing changes. Through the engine and the
terminal channel; time comes from the injectable clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import FixedClock, using
from bot.db import Database
from bot.i18n import Catalogs
from bot.models import (
    Booking,
    ChannelAccount,
    Citizen,
    Complaint,
    ComplaintStatus,
    DocumentRequest,
    DocumentStatus,
    OutboxMessage,
    Subscription,
)
from bot.models.sms import SmsConsentSource
from bot.profile import get_profile
from bot.services import complaints as complaint_service
from bot.services import documents as document_service
from bot.services import reception as reception_service
from bot.services import sms as sms_service
from tests.factories import make_complaint, make_day, make_document_request
from tests.handlers.test_reception import citizen_chat, tap, walk_to_confirm

T = Catalogs()
PROFILE = get_profile()
NUMBER = "+38344123456"
pytestmark = pytest.mark.clock


def t(locale: str, key: str, **params: object) -> str:
    return T.gettext(locale, key, **params)


def register(db: Database, phone: str = "044 123 456", language: str = "sr_Latn",
             topics: tuple[str, ...] = ("public_debates",)) -> int:
    """An officer registers the number at the counter; returns the citizen's id."""
    with db.session() as session:
        citizen = sms_service.register(
            session, phone=phone, settlement="vrbovac", language=language, topics=topics,
            source=SmsConsentSource.counter, officer="desk1",
            now=datetime(2026, 12, 1, 9, 0, tzinfo=PROFILE.tz))
        return citizen.id


def sms_rows(db: Database) -> list[OutboxMessage]:
    with db.read_session() as session:
        rows = list(session.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == "sms").order_by(OutboxMessage.id)))
        for row in rows:
            session.expunge(row)
        return rows


RECEPTION_DAY = date(2026, 12, 10)  # a Thursday, no holiday


def the_day_before_at_reminder_time(starts: datetime) -> datetime:
    local = starts.astimezone(PROFILE.tz)
    return datetime.combine(local.date() - timedelta(days=1),
                            datetime.min.time().replace(hour=PROFILE.reception.reminder_hour,
                                                        minute=5), tzinfo=PROFILE.tz)


def test_an_sms_citizens_reception_reminder_goes_by_sms_the_day_before(db: Database) -> None:
    citizen_id = register(db)
    day = RECEPTION_DAY
    day_id = make_day(db, day=day)
    with db.session() as session:
        citizen = session.get(Citizen, citizen_id)
        account = sms_service.sms_account(session, NUMBER)
        assert citizen is not None and account is not None
        # Booked for them (on the phone, say): the booking is on the SMS account.
        booking = reception_service.book(
            session, PROFILE, citizen=citizen, account=account, day_id=day_id, slot_index=2,
            topic="Put do Vrbovca", full_name="Dragica Stojanović", phone=NUMBER,
            settlement="vrbovac", now=datetime.combine(day - timedelta(days=6),
                                                       datetime.min.time(), tzinfo=PROFILE.tz))
        reference, starts = booking.reference, booking.starts_at
    due = the_day_before_at_reminder_time(starts)
    clock = FixedClock(due - timedelta(hours=PROFILE.reception.reminder_hour - 7))
    with using(clock):
        for _ in range(2):  # too early, then on time (twice: once is enough)
            with db.session() as session:
                reception_service.send_reminders(session, PROFILE, T, clock.now())
            clock.set(due)
        with db.session() as session:
            reception_service.send_reminders(session, PROFILE, T, clock.now())
    rows = sms_rows(db)
    assert len(rows) == 1
    text = rows[0].body["text"]
    assert rows[0].chat_id == NUMBER and not rows[0].body.get("buttons")
    assert text.startswith("Opština Klokot: podsetnik") and reference in text
    assert PROFILE.localized_contact("phone", "sr_Latn") in text


def test_a_complaint_status_change_asks_the_sms_citizen_to_call_or_visit(
        db: Database) -> None:
    reference = make_complaint(db, language="en", phone=NUMBER)
    other = make_complaint(db, language="en", phone="+38344999000")
    register(db, language="en")
    with db.session() as session:
        complaint = session.scalar(select(Complaint).where(Complaint.reference == reference))
        assert complaint is not None
        chat_citizen = session.get(Citizen, complaint.citizen_id)
        account = sms_service.sms_account(session, NUMBER)
        assert chat_citizen is not None and account is not None
        # The citizen said at the counter it is them, and wants news by SMS.
        from bot.services import sms_match
        chat = session.get(ChannelAccount, complaint.account_id)
        assert chat is not None
        sms_match.join(session, chat_citizen, account)
        sms_match.choose(session, chat_citizen, account.id, chat, by_sms=True)
    with db.session() as session:
        for ref in (reference, other):
            found = session.scalar(select(Complaint).where(Complaint.reference == ref))
            assert found is not None
            complaint_service.transition(session, PROFILE, T, found,
                                         ComplaintStatus.in_progress, by="officer",
                                         now=datetime(2026, 12, 2, 10, 0, tzinfo=PROFILE.tz),
                                         text="A crew goes on Monday.")
    rows = sms_rows(db)
    assert len(rows) == 1 and rows[0].chat_id == NUMBER
    text = rows[0].body["text"]
    assert text == t("en", "sms.complaint_changed", municipality="Municipality of Klokot",
                     reference=reference, phone=PROFILE.localized_contact("phone", "en"))
    assert "call" in text and "visit" in text and not rows[0].body.get("buttons")
    with db.read_session() as session:
        # The other complaint's citizen (chat only) is told in the chat, in full.
        told = [row.body["text"] for row in session.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == "telegram")) if other in row.body["text"]]
        assert len(told) == 1 and "A crew goes on Monday." in told[0]


def test_a_request_decided_for_an_sms_only_citizen_says_call_or_visit(db: Database) -> None:
    citizen_id = register(db, language="sq")
    reference = make_document_request(db)
    with db.session() as session:
        request = session.scalar(select(DocumentRequest).where(
            DocumentRequest.reference == reference))
        account = sms_service.sms_account(session, NUMBER)
        assert request is not None and account is not None
        request.citizen_id, request.account_id = citizen_id, account.id
        request.status = DocumentStatus.in_progress
        document_service.notify_change(session, PROFILE, T, request,
                                       now=datetime(2026, 12, 2, 10, 0, tzinfo=PROFILE.tz))
    rows = sms_rows(db)
    assert len(rows) == 1 and reference in rows[0].body["text"]
    assert rows[0].body["text"].startswith("Komuna e Kllokotit:")


def test_a_chat_citizen_who_shares_the_number_is_asked_and_becomes_one_citizen(
        db: Database) -> None:
    sms_citizen = register(db, topics=("public_debates", "emergencies"))
    chat = citizen_chat(db, "mila", "sr_Latn")
    chat.send("/reception")
    walk_to_confirm(chat, "sr_Latn", phone="044 123 456")
    answer = tap(chat, "rconf:yes")
    assert t("sr_Latn", "sms.match_question") in answer
    assert [b.payload for b in chat.buttons] == ["smsm:yes", "smsm:no"]
    assert t("sr_Latn", "sms.match_where") in tap(chat, "smsm:yes")
    assert t("sr_Latn", "sms.match_done_sms") in tap(chat, "smsw:sms")
    with db.read_session() as session:
        account = sms_service.sms_account(session, NUMBER)
        assert account is not None
        citizen = session.get(Citizen, account.citizen_id)
        assert citizen is not None and session.get(Citizen, sms_citizen) is None
        channels = sorted(session.scalars(select(ChannelAccount.channel).where(
            ChannelAccount.citizen_id == citizen.id)))
        assert channels == ["sms", "terminal"]
        assert citizen.notice_account_id == account.id
        assert sorted(session.scalars(select(Subscription.topic).where(
            Subscription.citizen_id == citizen.id))) == ["emergencies", "public_debates"]
        booking = session.scalars(select(Booking)).one()
        starts = booking.starts_at
    # Their reminder goes where they chose: by SMS.
    with db.session() as session:
        reception_service.send_reminders(session, PROFILE, T,
                                         the_day_before_at_reminder_time(starts))
    assert len(sms_rows(db)) == 1


def test_on_no_nothing_changes(db: Database) -> None:
    register(db)
    chat = citizen_chat(db, "neda", "en")
    chat.send("/reception")
    walk_to_confirm(chat, "en", phone="+383 44 123 456")
    assert t("en", "sms.match_question") in tap(chat, "rconf:yes")
    assert t("en", "sms.match_kept_apart") in tap(chat, "smsm:no")
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Citizen)) == 2
        account = sms_service.sms_account(session, NUMBER)
        assert account is not None
        booking = session.scalars(select(Booking)).one()
        assert booking.citizen_id != account.citizen_id
    # A number with no SMS registration asks nothing.
    other = citizen_chat(db, "ivo", "en")
    other.send("/reception")
    walk_to_confirm(other, "en", phone="044 765 432")
    assert t("en", "sms.match_question") not in tap(other, "rconf:yes")
