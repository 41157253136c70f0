"""/mydata and /forget: the file holds what is stored; after /forget no
table holds anything that identifies the person (checked in the database
itself), submissions stay, and the bot sends them nothing more. The
retention job empties old messages and removes old complaint photos."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.db import Base, Database, utcnow
from bot.entry.chat import TerminalChat
from bot.i18n import Catalogs, format_date
from bot.models import (
    Booking,
    BookingStatus,
    Citizen,
    Complaint,
    ComplaintPhoto,
    ComplaintStatus,
    DocumentRequest,
    InboundStatus,
    InboundUpdate,
    OutboxMessage,
    OutboxStatus,
    PhotoStatus,
)
from bot.profile import get_profile
from bot.services import complaints, sms, sms_match
from bot.services import data_rights as service
from tests.factories import make_complaint, make_runtime, texts
from tests.handlers.test_reception import tap, walk_to_confirm

T = Catalogs()
PROFILE = get_profile()
LOCALES = ["sr_Latn", "sr_Cyrl", "sq", "en"]
NAME, PHONE, USER = "Zorica Milenković", "+38344987654", "zorica-chat-77"


def t(locale: str, key: str, **params: object) -> str:
    return T.gettext(locale, key, **params)


def busy_citizen(db: Database, tmp_path: Path, locale: str = "en") -> TerminalChat:
    """A citizen with a booking, a document request with her name, and a
    complaint with a photo."""
    import io

    runtime = make_runtime(db, media_dir=tmp_path / "media")
    chat = TerminalChat(runtime.engine, db, user=USER, out=io.StringIO(),
                        photos=runtime.photo_fetcher(terminal=True))
    chat.send("/start")
    tap(chat, f"lang:{locale}")
    tap(chat, "privacy:ok")
    chat.send("/reception")
    walk_to_confirm(chat, locale, name=NAME, phone="044 987 654")
    tap(chat, "rconf:yes")
    chat.send("/documents")
    chat.send("Odluka o budžetu opštine Klokot za 2026. godinu.")
    tap(chat, "ddep:economy_finance")
    tap(chat, "dform:electronic")
    tap(chat, "durg:no")
    tap(chat, "dname:keep")
    tap(chat, "dconf:yes")
    chat.send("/complaint")
    tap(chat, "ckind:complaint")
    tap(chat, "ccat:roads")
    tap(chat, "cset:vrbovac")
    chat.send("Rupa na putu ispred kuće broj 12 u Vrbovcu.")
    chat.send("!photo")
    tap(chat, "cph:done")
    chat.send("!location 42.37 21.38")
    tap(chat, "canon:no")
    tap(chat, "cconf:yes")
    return chat


@pytest.mark.parametrize("locale", LOCALES)
def test_mydata_sends_a_summary_and_the_whole_file(db: Database, tmp_path: Path,
                                                   locale: str) -> None:
    chat = busy_citizen(db, tmp_path, locale)
    replies = chat.send("/mydata")
    summary, attached = replies[-2], replies[-1]
    assert NAME in summary.text and PHONE in summary.text
    assert attached.file is not None and attached.file.mime_type == "application/json"
    assert attached.text == t(locale, "mydata.file_caption")
    data: dict[str, Any] = json.loads(Path(attached.file.path or "").read_text())
    assert data["citizen"]["full_name"] == NAME and data["citizen"]["phone"] == PHONE
    assert data["citizen"]["settlement"] == "vrbovac" and data["citizen"]["language"] == locale
    assert data["accounts"][0]["user_id"] == USER
    [booking] = data["reception_bookings"]
    assert booking["reference"].startswith("R-") and booking["full_name"] == NAME
    [request] = data["document_requests"]
    assert request["full_name"] == NAME and "budžetu" in request["description"]
    [complaint] = data["complaints"]
    assert complaint["photos"] == 1 and complaint["latitude"] == 42.37
    assert data["messages_received"] and any(
        m["text"] for m in data["messages_sent"] if m["text"])
    # The file is the citizen's alone: not readable by other users of the machine.
    assert Path(attached.file.path or "").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("locale", LOCALES)
def test_mydata_shows_the_sms_registration_and_who_made_it(db: Database, tmp_path: Path,
                                                          locale: str) -> None:
    """A citizen registered for SMS at the counter, joined to their chat,
    sees in /mydata that SMS go to their number and since when; the file
    says how the consent was given and by which officer."""
    chat = busy_citizen(db, tmp_path, locale)
    with db.session() as session:
        citizen = session.scalars(select(Citizen).where(Citizen.phone == PHONE)).one()
        sms.register(session, phone=PHONE, settlement="mogila", language=locale,
                     topics=["public_debates"], source="counter", officer="info1",
                     now=utcnow() - timedelta(days=3))
        registered = sms.sms_account(session, PHONE)
        assert registered is not None
        sms_match.join(session, citizen, registered)
    summary, attached = chat.send("/mydata")[-2:]
    since = format_date((utcnow() - timedelta(days=3)).astimezone(PROFILE.tz), locale)
    assert t(locale, "mydata.sms", number=PHONE, since=since) in summary.text
    assert attached.file is not None
    data: dict[str, Any] = json.loads(Path(attached.file.path or "").read_text())
    [consent] = data["sms"]
    assert consent["number"] == PHONE and consent["source"] == "counter"
    assert consent["registered_by"] == "info1" and consent["stopped_at"] is None
    with db.session() as session:
        sms.stop(session, PHONE, utcnow())
    summary = chat.send("/mydata")[-2]
    assert t(locale, "mydata.sms", number=PHONE, since=since) not in summary.text


def every_value(db: Database) -> str:
    """Every cell of every table, as text: what a database dump would show."""
    values: list[str] = []
    with db.read_session() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).all():
                values.extend(str(value) for value in row)
    return "\n".join(values)


def test_forget_leaves_nothing_personal_and_keeps_the_submissions(
        db: Database, tmp_path: Path) -> None:
    chat = busy_citizen(db, tmp_path)
    before = every_value(db)
    assert NAME in before and PHONE in before and USER in before
    answer = texts(chat.send("/forget"))
    assert t("en", "forget.confirm") in answer
    done = texts([*chat.send(str(1))])
    assert done == t("en", "forget.done")
    with db.session() as session:  # what the hourly timer does
        service.finish_erasures(session, utcnow())
    after = every_value(db)
    for personal in (NAME, "Zorica", PHONE, "987 654", USER):
        assert personal not in after, f"{personal!r} is still stored"
    with db.read_session() as session:
        citizen = session.scalars(select(Citizen)).one()
        assert citizen.erased_at is not None and citizen.language is None
        booking = session.scalars(select(Booking)).one()
        assert booking.status is BookingStatus.cancelled and booking.topic
        request = session.scalars(select(DocumentRequest)).one()
        assert "budžetu" in request.description and request.full_name is None
        complaint = session.scalars(select(Complaint)).one()
        assert complaint.description.startswith("Rupa na putu")
        assert complaint.account_id is None


def test_after_forget_the_bot_sends_nothing_more(db: Database, tmp_path: Path) -> None:
    chat = busy_citizen(db, tmp_path)
    chat.deliver()
    chat.send("/forget")
    tap(chat, "forget:yes")
    runtime = make_runtime(db)
    with db.session() as session:
        complaint = session.scalars(select(Complaint)).one()
        complaints.reply(session, PROFILE, runtime.catalogs, complaint, "Answer.", by="o",
                         now=utcnow())
        complaints.transition(session, PROFILE, runtime.catalogs, complaint,
                              ComplaintStatus.resolved, by="o", now=utcnow())
    assert chat.deliver() == []
    with db.read_session() as session:
        queued = session.scalars(select(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.queued)).all()
    assert queued == []


def test_forget_can_be_called_off_and_interrupts_a_flow(db: Database, tmp_path: Path) -> None:
    chat = busy_citizen(db, tmp_path)
    chat.send("/complaint")
    tap(chat, "ckind:suggestion")
    assert t("en", "forget.confirm") in texts(chat.send("/forget"))
    assert t("en", "error.expected_button") in texts(chat.send("yes please"))
    assert tap(chat, "forget:no") == t("en", "forget.kept")
    with db.read_session() as session:
        assert session.scalars(select(Citizen)).one().full_name == NAME
    # The interrupted suggestion is gone; the menu works as before.
    assert t("en", "menu.title") in tap(chat, "nav:menu")


def test_retention_empties_old_messages_and_removes_old_photos(db: Database,
                                                               tmp_path: Path) -> None:
    reference = make_complaint(db, photos=2, media_dir=tmp_path)
    make_complaint(db, photos=1, media_dir=tmp_path)  # still open: its photo stays
    runtime = make_runtime(db)
    long_ago = utcnow() - timedelta(days=PROFILE.photo_retention_days + 1)
    with db.session() as session:
        complaint = session.scalars(select(Complaint).where(
            Complaint.reference == reference)).one()
        complaints.transition(session, PROFILE, runtime.catalogs, complaint,
                              ComplaintStatus.resolved, by="o", now=long_ago)
    with db.session() as session:
        session.execute(text("UPDATE outbox_message SET status = 'sent'"))
    old = utcnow() - timedelta(days=PROFILE.retention_days + 1)
    with db.session() as session:
        session.add(InboundUpdate(channel="telegram", update_key="900", kind="text",
                                  status=InboundStatus.failed, received_at=old,
                                  payload={"message": {"text": "old"}}))
        session.add(InboundUpdate(channel="telegram", update_key="901", kind="text",
                                  status=InboundStatus.handled, received_at=utcnow()))
        for row in session.scalars(select(OutboxMessage)):
            row.created_at = old
    with db.session() as session:
        result = service.apply_retention(session, PROFILE, utcnow())
    assert result["photos"] == 2 and result["inbound"] == 1 and result["outbox"] >= 1
    with db.read_session() as session:
        photos = session.scalars(select(ComplaintPhoto).order_by(ComplaintPhoto.id)).all()
        assert [p.status for p in photos] == [PhotoStatus.deleted, PhotoStatus.deleted,
                                              PhotoStatus.stored]
        assert [k for (k,) in session.execute(select(InboundUpdate.update_key))] == ["901"]
        assert all(row.body == {"text": ""} for row in session.scalars(select(OutboxMessage)))
    assert len(list(tmp_path.rglob("*.jpg"))) == 1
    with db.session() as session:  # a second run finds nothing more to do
        assert service.apply_retention(session, PROFILE, utcnow()) == {
            "inbound": 0, "outbox": 0, "photos": 0, "voice_messages": 0}
