"""Typed text acting as a button (#13, item 10). On Viber a button press
arrives as a text message, so anyone can type `rsvp:yes:7`, `doc:withdraw_yes:…`
or `rsv:cancel_yes:…` and it reaches the flow as a button. Every action a
payload names must be one this citizen was offered: a notice sent to them,
their own booking, complaint, request, a follow-up asked of them, a survey
open to them. A forged one gets the polite "that button no longer applies"
answer and changes nothing. Each test types the payload as a Viber text
through the channel's own parser and hands it to the engine as a press.

Since #17 a typed text is a press only when it is a payload offered at this
step (`bot.engine.typed`), so a forged one is now plain text before it gets
here (tests/channels/test_viber_typed.py); these tests press it anyway, as a
modified client could, to show the flows still refuse it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from sqlalchemy import select

from bot.channels.viber import parse_callback
from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.messages import Kind
from bot.models import (
    Booking,
    BookingStatus,
    ChannelAccount,
    Citizen,
    Complaint,
    ComplaintStatus,
    Conversation,
    DocumentRequest,
    DocumentStatus,
    NoticeAnswer,
    Subscription,
    SurveyParticipant,
)
from bot.profile import get_profile
from bot.runtime import Runtime
from bot.services import complaints as complaint_service
from bot.services import surveys as survey_service
from tests.factories import (
    make_booking,
    make_citizen,
    make_complaint,
    make_document_request,
    make_runtime,
    texts,
)
from tests.fakes.viber_api import viber_message_event
from tests.handlers.test_notices import run_delivery, send_notice, subscriber
from tests.handlers.test_surveys import definition

T = Catalogs()
PROFILE = get_profile()
STALE = T.gettext("en", "error.stale_button")
VIBER_USER = "01234567890A="


def typed(runtime: Runtime, text: str, user: str = VIBER_USER) -> str:
    """`text` typed into Viber, as the webhook hands it to the engine."""
    msg = parse_callback(viber_message_event(user, text))
    assert msg.kind is Kind.text and msg.text == text
    msg = replace(msg, kind=Kind.button, payload=text)  # pressed as if it had been offered
    return texts(runtime.engine.handle(msg).replies)


def viber_citizen(db: Database, *, settlement: str = "klokot") -> int:
    """The attacker: a Viber citizen past the welcome, in English."""
    citizen_id = make_citizen(db, channel="viber", external_id=VIBER_USER, language="en",
                              settlement=settlement)
    with db.session() as session:
        citizen = session.get(Citizen, citizen_id)
        assert citizen is not None
        citizen.privacy_acknowledged_at = utcnow()
    return citizen_id


# --- public debates --------------------------------------------------------------

def test_an_rsvp_for_a_notice_never_sent_to_them_is_refused(db: Database) -> None:
    subscriber(db, "1001", settlement="grncar")
    attacker = viber_citizen(db, settlement="klokot")  # not subscribed at all
    notice_id = send_notice(db, rsvp=True, settlements=["grncar"])
    run_delivery(db)
    runtime = make_runtime(db)

    assert typed(runtime, f"rsvp:yes:{notice_id}") == STALE
    assert typed(runtime, f"rsvp:ask:{notice_id}") == STALE
    with db.read_session() as session:
        assert session.scalars(select(NoticeAnswer)).all() == []
        conversation = session.scalars(select(Conversation)).all()
        assert all(c.state is None for c in conversation)
    # the same citizen, once the notice is sent to them, may answer
    with db.session() as session:
        session.add(Subscription(citizen_id=attacker, topic="public_debates"))
    second = send_notice(db, rsvp=True)
    run_delivery(db)
    assert typed(runtime, f"rsvp:yes:{second}").startswith(
        T.gettext("en", "notices.rsvp_counted"))


def test_an_rsvp_for_a_notice_that_could_not_reach_them_is_refused(db: Database) -> None:
    """A recipient row marked unreachable means nothing was sent."""
    subscriber(db, VIBER_USER, channel="viber", blocked=True)
    notice_id = send_notice(db, rsvp=True)
    run_delivery(db)
    with db.session() as session:
        account = session.scalars(select(ChannelAccount)).one()
        account.blocked_at = None  # back again, and typing
    assert typed(make_runtime(db), f"rsvp:yes:{notice_id}") == STALE
    with db.read_session() as session:
        assert session.scalars(select(NoticeAnswer)).all() == []


# --- bookings, complaints, document requests ---------------------------------------

def test_someone_elses_booking_cannot_be_cancelled_or_moved(db: Database) -> None:
    reference = make_booking(db, day=date.today() + timedelta(days=14))
    viber_citizen(db)
    runtime = make_runtime(db)
    no_such = T.gettext("en", "reception.no_such_booking")
    for action in ("cancel_yes", "cancel", "move", "keep"):
        assert typed(runtime, f"rsv:{action}:{reference}") == no_such
    with db.read_session() as session:
        booking = session.scalars(select(Booking)).one()
        assert booking.status is BookingStatus.booked
        assert all(not c.data.get("r_move") for c in session.scalars(select(Conversation)))


def test_someone_elses_complaint_cannot_be_answered_or_shown(db: Database) -> None:
    reference = make_complaint(db)
    with db.session() as session:
        complaint = session.scalars(select(Complaint)).one()
        complaint_service.transition(session, PROFILE, T, complaint, ComplaintStatus.resolved,
                                     by="officer", now=utcnow() - timedelta(days=30))
        complaint_service.send_followups(session, PROFILE, T, utcnow())
    viber_citizen(db)
    runtime = make_runtime(db)
    no_such = T.gettext("en", "complaints.no_such_complaint")
    assert typed(runtime, f"cmp:unsolved:{reference}") == no_such
    assert typed(runtime, f"cmp:show:{reference}") == no_such
    with db.read_session() as session:
        complaint = session.scalars(select(Complaint)).one()
        assert complaint.status is ComplaintStatus.resolved
        assert complaint.followup_answered_at is None


def test_a_follow_up_never_asked_cannot_be_answered(db: Database) -> None:
    """Their own complaint, resolved, but the four-week question not yet asked:
    typing the answer does not reopen it."""
    viber_citizen(db)
    runtime = make_runtime(db)
    with db.session() as session:
        citizen = session.scalars(select(Citizen)).one()
        account = citizen.accounts[0]
        complaint = complaint_service.register(
            session, PROFILE, T, citizen=citizen, account=account,
            kind=complaint_service.ComplaintKind.complaint, category_code="lighting",
            settlement="klokot", description="The street light by the school is out",
            photos=[], latitude=None, longitude=None, address=None, anonymous=False,
            now=utcnow())
        complaint_service.transition(session, PROFILE, T, complaint, ComplaintStatus.resolved,
                                     by="officer", now=utcnow())
        reference = complaint.reference
    answer = typed(runtime, f"cmp:unsolved:{reference}")
    assert answer == T.gettext("en", "complaints.followup_stale", reference=reference,
                               state=T.gettext("en", "complaints.state.resolved"))
    with db.read_session() as session:
        assert session.scalars(select(Complaint)).one().status is ComplaintStatus.resolved


def test_someone_elses_document_request_cannot_be_withdrawn(db: Database) -> None:
    reference = make_document_request(db)
    viber_citizen(db)
    runtime = make_runtime(db)
    no_such = T.gettext("en", "documents.no_such_request")
    assert typed(runtime, f"doc:withdraw_yes:{reference}") == no_such
    assert typed(runtime, f"doc:show:{reference}") == no_such
    with db.read_session() as session:
        assert session.scalars(select(DocumentRequest)).one().status is DocumentStatus.received


# --- surveys ------------------------------------------------------------------------

def test_a_survey_not_open_to_them_cannot_be_started(db: Database) -> None:
    viber_citizen(db, settlement="klokot")
    with db.session() as session:
        draft = survey_service.create(session, PROFILE, definition(slug="draft-one"),
                                      by="info1", now=utcnow())
        other = survey_service.create(
            session, PROFILE, definition(slug="grncar-only",
                                         audience={"settlements": ["grncar"]}),
            by="info1", now=utcnow())
        survey_service.publish(session, other, utcnow())
        assert draft.id
    runtime = make_runtime(db)
    for slug in ("draft-one", "grncar-only", "no-such-survey"):
        assert STALE in typed(runtime, f"srv:{slug}:start")
        assert STALE in typed(runtime, f"srv:{slug}:0:v5")
    with db.read_session() as session:
        assert session.scalars(select(SurveyParticipant)).all() == []


# --- notices settings, privacy ------------------------------------------------------

def test_notices_cannot_be_routed_to_someone_elses_account(db: Database) -> None:
    make_citizen(db, channel="telegram", external_id="5555", language="en")
    attacker = viber_citizen(db)
    with db.read_session() as session:
        victim_account = session.scalar(select(ChannelAccount.id).where(
            ChannelAccount.channel == "telegram"))
    answer = typed(make_runtime(db), f"ntc:via:{victim_account}")
    assert answer.startswith(STALE)
    with db.read_session() as session:
        citizen = session.get(Citizen, attacker)
        assert citizen is not None and citizen.notice_account_id is None


def test_the_privacy_notice_is_not_acknowledged_unseen(db: Database) -> None:
    runtime = make_runtime(db)
    runtime.engine.handle(parse_callback(viber_message_event(VIBER_USER, "Hello")))
    answer = typed(runtime, "privacy:ok")  # typed at the language question
    assert answer.startswith(T.gettext(PROFILE.default_locale, "error.stale_button"))
    with db.read_session() as session:
        citizen = session.scalars(select(Citizen)).one()
        assert citizen.privacy_acknowledged_at is None
    typed(runtime, "lang:en")  # now the notice is shown, and its button works
    typed(runtime, "privacy:ok")
    with db.read_session() as session:
        assert session.scalars(select(Citizen)).one().privacy_acknowledged_at is not None
