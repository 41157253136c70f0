"""Requests for public documents in the chat: the flow in every locale, each
state change told to the citizen, withdrawing, the overdue notice and the
officers' morning digest."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import Database, utcnow
from bot.entry.chat import TerminalChat
from bot.i18n import Catalogs, format_date
from bot.models import DocumentRequest, DocumentStatus, OutboxMessage
from bot.profile import get_profile
from bot.refusals import Refused
from bot.services import deadlines
from bot.services import documents as service
from tests.factories import make_incoming, make_runtime, make_staff, texts
from tests.handlers.test_reception import citizen_chat, tap

LOCALES = ["sr_Latn", "sr_Cyrl", "sq", "en"]
T = Catalogs()
PROFILE = get_profile()


# Deadlines in working days, overdue, the morning digest: run again at night by
# `make test-night` (KLOKOT_TEST_CLOCK).
pytestmark = pytest.mark.clock


def t(locale: str, key: str, **params: object) -> str:
    return T.gettext(locale, key, **params)


def law(locale: str) -> dict[str, object]:
    """The deadlines and the Agency's details the law texts quote."""
    return service.law_terms(PROFILE, T.translator(locale), locale)


def file_request(chat: TerminalChat, *, urgent: bool = False) -> str:
    chat.send("/documents")
    chat.send("Zapisnik sa sednice Skupštine opštine od 12. marta 2026.")
    tap(chat, "ddep:assembly")
    tap(chat, "dform:electronic")
    tap(chat, "durg:yes" if urgent else "durg:no")
    summary = tap(chat, "dname:skip")
    assert "Zapisnik sa sednice" in summary
    return tap(chat, "dconf:yes")


@pytest.mark.parametrize("locale", LOCALES)
def test_file_a_request_and_see_it_in_status(db: Database, locale: str) -> None:
    chat = citizen_chat(db, "ana", locale)
    assert "06/L-081" in texts(chat.send("/documents"))
    chat.send("/cancel")
    registered = file_request(chat)
    with db.read_session() as session:
        request = session.scalars(select(DocumentRequest)).one()
    expected_due = deadlines.regular_deadline(PROFILE, request.registered_at)
    assert request.due_at == expected_due and request.status is DocumentStatus.received
    assert t(locale, "documents.registered", reference=request.reference,
             due=service.due_text(PROFILE, request, locale)) == registered
    status = texts(chat.send("/status"))
    assert request.reference in status and t(locale, "documents.state.received") in status
    history = tap(chat, f"doc:show:{request.reference}")
    assert t(locale, "documents.state.received") in history


def test_life_or_liberty_is_due_in_48_hours_with_the_hour(db: Database) -> None:
    chat = citizen_chat(db, "bo")
    registered = file_request(chat, urgent=True)
    with db.read_session() as session:
        request = session.scalars(select(DocumentRequest)).one()
    assert request.due_at - request.registered_at == timedelta(hours=48)
    assert request.due_at.astimezone(PROFILE.tz).strftime("%H:%M") in registered


@pytest.mark.parametrize("locale", LOCALES)
def test_every_state_change_reaches_the_citizen_in_their_language(db: Database,
                                                                  locale: str) -> None:
    chat = citizen_chat(db, "cira", locale)
    file_request(chat)
    chat.deliver()
    steps: list[tuple[DocumentStatus, dict[str, Any]]] = [
        (DocumentStatus.in_progress, {}),
        (DocumentStatus.extended, {"reason": "Dokument je u arhivi.", "extension_days": 10}),
        (DocumentStatus.refused, {"reason": "Sadrži lične podatke trećih lica."}),
    ]
    for status, extra in steps:
        with db.session() as session:
            request = session.scalars(select(DocumentRequest)).one()
            service.transition(session, PROFILE, T, request, status, by="officer1",
                               now=utcnow(), **extra)
        message = chat.deliver()[-1].text
        assert request.reference in message
        if "reason" in extra:
            assert str(extra["reason"]) in message
    assert "15" in message and t(locale, "documents.changed.refused", reference="",
                                 reason="", due="", institution="", **law(locale))[-20:] in (
        message)


@pytest.mark.parametrize(
    ("start", "to", "extra", "code"),
    [(DocumentStatus.granted, DocumentStatus.in_progress, {}, "transition_not_allowed"),
     (DocumentStatus.received, DocumentStatus.refused, {}, "reason_required"),
     (DocumentStatus.received, DocumentStatus.partially_granted, {}, "reason_required"),
     (DocumentStatus.received, DocumentStatus.extended, {"reason": "x", "extension_days": 16},
      "invalid_extension"),
     (DocumentStatus.received, DocumentStatus.forwarded, {"forwarded_to": "  "},
      "institution_required"),
     (DocumentStatus.received, DocumentStatus.received, {}, "transition_not_allowed")],
)
def test_transitions_the_rules_refuse(db: Database, start: DocumentStatus,
                                      to: DocumentStatus, extra: dict[str, object],
                                      code: str) -> None:
    chat = citizen_chat(db, "dane")
    file_request(chat)
    with db.session() as session:
        request = session.scalars(select(DocumentRequest)).one()
        request.status = start
    with db.session() as session:
        request = session.scalars(select(DocumentRequest)).one()
        with pytest.raises(Refused) as refused:
            service.transition(session, PROFILE, T, request, to, by="officer1", now=utcnow(),
                               **extra)  # type: ignore[arg-type]
        assert refused.value.code == code


def test_a_second_extension_is_refused(db: Database) -> None:
    chat = citizen_chat(db, "ela")
    file_request(chat)
    with db.session() as session:
        request = session.scalars(select(DocumentRequest)).one()
        first_due = request.due_at
        service.transition(session, PROFILE, T, request, DocumentStatus.extended,
                           by="o", now=utcnow(), reason="Arhiva.", extension_days=15)
        assert request.due_at > first_due
        service.transition(session, PROFILE, T, request, DocumentStatus.in_progress, by="o",
                           now=utcnow())
        with pytest.raises(Refused) as refused:
            service.transition(session, PROFILE, T, request, DocumentStatus.extended, by="o",
                               now=utcnow(), reason="Opet.", extension_days=5)
        assert refused.value.code == "already_extended"


def test_the_citizen_withdraws_and_nobody_else_can(db: Database) -> None:
    chat = citizen_chat(db, "fani")
    file_request(chat)
    with db.read_session() as session:
        reference = session.scalars(select(DocumentRequest.reference)).one()
    citizen_chat(db, "stranger")
    forged = make_runtime(db).engine.handle(
        make_incoming(payload=f"doc:withdraw_yes:{reference}", user="stranger"))
    assert t("en", "documents.no_such_request") in texts(forged.replies)
    chat.send("/status")
    tap(chat, f"doc:show:{reference}")
    tap(chat, "doc:withdraw:")
    answer = tap(chat, "doc:withdraw_yes:")
    assert t("en", "documents.changed.withdrawn", reference=reference) in answer
    with db.read_session() as session:
        assert session.scalars(select(DocumentRequest)).one().status is DocumentStatus.withdrawn


def test_silence_turns_into_refusal_once(db: Database) -> None:
    chat = citizen_chat(db, "gora", "sq")
    file_request(chat)
    chat.deliver()
    with db.read_session() as session:
        due = session.scalars(select(DocumentRequest.due_at)).one()
    for now in (due, due + timedelta(seconds=1), due + timedelta(hours=5)):
        with db.session() as session:
            service.tell_overdue(session, PROFILE, T, now)
    notices = chat.deliver()
    assert len(notices) == 1
    assert "15" in notices[0].text and "Agjencia" in notices[0].text


def test_morning_digest_for_the_info_office_once_a_day(db: Database) -> None:
    chat = citizen_chat(db, "hila")
    file_request(chat)
    make_staff(db, "info1", "info_office")
    officer = citizen_chat(db, "info-phone")
    with db.session() as session:
        from bot.models import ChannelAccount
        from bot.models.staff import StaffUser

        account = session.scalars(select(ChannelAccount).where(
            ChannelAccount.external_id == "info-phone")).one()
        session.scalars(select(StaffUser)).one().chat_account_id = account.id
        due = session.scalars(select(DocumentRequest.due_at)).one()
    morning = due.astimezone(PROFILE.tz).replace(hour=8, minute=30)
    assert PROFILE.is_working_day(morning.date())
    for now in (morning.replace(hour=7), morning, morning + timedelta(hours=2)):
        with db.session() as session:
            service.morning_digest(session, PROFILE, T, now.astimezone(UTC))
    digests = [m for m in officer.deliver() if "—" in m.text and "1" in m.text]
    assert len(digests) == 1
    with db.read_session() as session:
        keys = session.scalars(select(OutboxMessage.dedupe_key).where(
            OutboxMessage.dedupe_key.is_not(None))).all()
    assert len(keys) == 1


def test_registration_after_midnight_local_counts_the_next_day() -> None:
    late = datetime(2026, 6, 9, 22, 30, tzinfo=UTC)
    assert deadlines.regular_deadline(PROFILE, late).astimezone(PROFILE.tz).day == 17


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    ("status", "extra"),
    [(DocumentStatus.in_progress, {}),
     (DocumentStatus.extended, {"reason": "R-arhiva", "extension_days": 3}),
     (DocumentStatus.forwarded, {"forwarded_to": "Ministarstvo finansija"}),
     (DocumentStatus.granted, {}),
     (DocumentStatus.partially_granted, {"reason": "R-delimicno"}),
     (DocumentStatus.refused, {"reason": "R-odbijeno"}),
     (DocumentStatus.withdrawn, {})],
)
def test_each_transition_message_in_each_locale(db: Database, locale: str,
                                                status: DocumentStatus,
                                                extra: dict[str, Any]) -> None:
    chat = citizen_chat(db, "ivo", locale)
    file_request(chat)
    chat.deliver()
    with db.session() as session:
        request = session.scalars(select(DocumentRequest)).one()
        service.transition(session, PROFILE, T, request, status, by="officer1", now=utcnow(),
                           **extra)
        due = service.due_text(PROFILE, request, locale)
    [message] = chat.deliver()
    expected = t(locale, f"documents.changed.{status.value}", reference=request.reference,
                 due=due, reason=extra.get("reason", ""),
                 institution=extra.get("forwarded_to", ""), **law(locale))
    assert message.text == expected
    for key in ("reason", "forwarded_to"):
        assert extra.get(key, "") in message.text
    if locale != "en":
        assert message.text != t("en", f"documents.changed.{status.value}",
                                 reference=request.reference, due=due,
                                 reason=extra.get("reason", ""),
                                 institution=extra.get("forwarded_to", ""), **law(locale))


@pytest.mark.parametrize(
    ("answer", "key"),
    [("kratko", "documents.description_short"),
     ("🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂", "documents.description_short"),
     ("x" * 4001, "error.too_long"),
     ("!photo", "error.expected_text"),
     ("!sticker", "error.expected_text")],
)
def test_a_bad_description_is_explained_and_nothing_is_filed(db: Database, answer: str,
                                                            key: str) -> None:
    chat = citizen_chat(db, "jana")
    chat.send("/documents")
    reply = texts(chat.send(answer))
    assert t("en", key, min=10, max=4000, got=len(answer))[:25] in reply
    assert t("en", "documents.ask_description", min=10, max=4000) in reply  # asked again
    engine = make_runtime(db).engine
    for forged in ("ddep:space_agency", "dform:fax", "durg:maybe", "dconf:yes"):
        result = engine.handle(make_incoming(payload=forged, user="jana"))
        assert not result.failed and result.replies
    with db.read_session() as session:
        assert session.scalars(select(DocumentRequest)).all() == []


@pytest.mark.parametrize("locale", LOCALES)
def test_status_shows_the_appeal_route_of_a_refusal_and_of_silence(
        db: Database, clock: Any, locale: str) -> None:
    """A refused request's detail says where to complain, and within how many
    days; so does one left unanswered past its deadline (silence is refusal)."""
    appeal = t(locale, "documents.appeal_route", appeal_days=deadlines.APPEAL_DAYS)
    silence = t(locale, "documents.appeal_route_silence", appeal_days=deadlines.APPEAL_DAYS)
    chat = citizen_chat(db, f"appeal-{locale}", locale)

    def detail(reference: str) -> str:
        chat.send("/status")
        return tap(chat, f"doc:show:{reference}")

    file_request(chat)
    file_request(chat)
    with db.read_session() as session:
        refused, late = session.scalars(select(DocumentRequest).order_by(DocumentRequest.id))
    assert appeal not in detail(refused.reference)
    with db.session() as session:
        service.transition(session, PROFILE, T, session.get_one(DocumentRequest, refused.id),
                           DocumentStatus.refused, by="info1", now=utcnow(),
                           reason="Third persons' personal data.")
    assert appeal in detail(refused.reference)
    assert silence not in detail(late.reference)
    clock.set(late.due_at + timedelta(hours=1))
    assert silence in detail(late.reference)


# --- what Law No. 06/L-081 gives the citizen, said in every language (#16, item 5)

def _agency(locale: str) -> list[str]:
    body = PROFILE.appeal_body
    return [body.name_in(locale), body.address_in(locale), body.phone, body.website]


@pytest.mark.parametrize("locale", LOCALES)
def test_the_intro_gives_the_deadlines_and_the_agency(db: Database, locale: str) -> None:
    intro = texts(citizen_chat(db, "lia", locale).send("/documents"))
    for number in ("7", "15", "48"):
        assert re.search(rf"\b{number}\b", intro), (locale, number)
    assert PROFILE.appeal_body.name_in(locale) in intro


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("status", [DocumentStatus.refused, DocumentStatus.partially_granted])
def test_a_refusal_says_where_to_complain_and_from_when(db: Database, locale: str,
                                                        status: DocumentStatus) -> None:
    chat = citizen_chat(db, "mira", locale)
    file_request(chat)
    chat.deliver()
    with db.session() as session:
        request = session.scalars(select(DocumentRequest)).one()
        service.transition(session, PROFILE, T, request, status, by="officer1", now=utcnow(),
                           reason="Sadrži lične podatke trećih lica.")
    [message] = chat.deliver()
    assert re.search(r"\b15\b", message.text)
    assert all(part in message.text for part in _agency(locale)), message.text
    assert ".." not in message.text
    receiving = {"en": "of receiving this decision", "sr_Latn": "od dana prijema odluke",
                 "sr_Cyrl": "од дана пријема одлуке", "sq": "nga dita kur e morët vendimin"}
    assert receiving[locale] in message.text


@pytest.mark.parametrize("locale", LOCALES)
def test_silence_gives_the_day_the_deadline_expired_and_the_last_day(db: Database,
                                                                    locale: str) -> None:
    chat = citizen_chat(db, "nada", locale)
    file_request(chat)
    chat.deliver()
    with db.session() as session:
        due = session.scalars(select(DocumentRequest.due_at)).one()
        service.tell_overdue(session, PROFILE, T, due + timedelta(hours=1))
    [notice] = chat.deliver()
    expired = due.astimezone(PROFILE.tz).date()
    assert format_date(expired, locale) in notice.text
    assert format_date(expired + timedelta(days=15), locale) in notice.text
    assert re.search(r"\b15\b", notice.text)
    assert all(part in notice.text for part in _agency(locale)), notice.text


@pytest.mark.parametrize(
    ("status", "extra"),
    [(DocumentStatus.granted, {}), (DocumentStatus.refused, {"reason": "Ne postoji."}),
     (DocumentStatus.forwarded, {"forwarded_to": "Ministarstvo finansija"})],
)
def test_status_stops_giving_a_due_date_once_decided(db: Database, status: DocumentStatus,
                                                     extra: dict[str, Any]) -> None:
    chat = citizen_chat(db, "olja", "en")
    file_request(chat)
    with db.read_session() as session:
        request = session.scalars(select(DocumentRequest)).one()
        due = service.due_text(PROFILE, request, "en")
    assert due in texts(chat.send("/status"))
    with db.session() as session:
        request = session.scalars(select(DocumentRequest)).one()
        service.transition(session, PROFILE, T, request, status, by="officer1", now=utcnow(),
                           **extra)
    chat.deliver()
    listing = texts(chat.send("/status"))
    history = tap(chat, f"doc:show:{request.reference}")
    for text in (listing, history):
        assert t("en", f"documents.state.{status.value}") in text
        assert due not in text and "due" not in text.lower(), text
