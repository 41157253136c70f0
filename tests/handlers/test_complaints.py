"""Complaints, suggestions and praise in the chat: the flow in every locale
with photos and a location, what it refuses and why, the answers and state
changes that come back, /status, and the follow-up four weeks after
`resolved`. Through the engine and the terminal channel (photos are local
files, fetched as the worker would)."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import Database, utcnow
from bot.entry.chat import TerminalChat
from bot.i18n import Catalogs
from bot.models import (
    Complaint,
    ComplaintPhoto,
    ComplaintStatus,
    OutboxMessage,
    PhotoStatus,
)
from bot.profile import get_profile
from bot.refusals import Refused
from bot.services import complaints as service
from tests.factories import jpeg_bytes, make_incoming, make_runtime, make_staff, texts
from tests.handlers.test_reception import local_year, tap

LOCALES = ["sr_Latn", "sr_Cyrl", "sq", "en"]
T = Catalogs()
PROFILE = get_profile()
DESCRIPTION = "Ulično svetlo kod škole u Klokotu ne radi već dve nedelje."


def t(locale: str, key: str, **params: object) -> str:
    return T.gettext(locale, key, **params)


def complaint_chat(db: Database, user: str, locale: str, media_dir: Path) -> TerminalChat:
    """A citizen past the welcome, whose photos the 'worker' fetches after each line."""
    runtime = make_runtime(db, media_dir=media_dir)
    chat = TerminalChat(runtime.engine, runtime.db, user=user, out=io.StringIO(),
                        photos=runtime.photo_fetcher(terminal=True))
    chat.send("/start")
    tap(chat, f"lang:{locale}")
    tap(chat, "privacy:ok")
    return chat


def photo_file(tmp_path: Path, name: str = "pothole.jpg", **kwargs: object) -> Path:
    path = tmp_path / name
    path.write_bytes(jpeg_bytes(**kwargs))  # type: ignore[arg-type]
    return path


def walk_to_photos(chat: TerminalChat, *, kind: str = "complaint",
                   category: str = "lighting", settlement: str = "klokot") -> str:
    chat.send("/complaint")
    tap(chat, f"ckind:{kind}")
    tap(chat, f"ccat:{category}")
    tap(chat, f"cset:{settlement}")
    return texts(chat.send(DESCRIPTION))


def only_complaint(db: Database) -> Complaint:
    with db.read_session() as session:
        complaint = session.scalars(select(Complaint)).one()
        session.expunge(complaint)
        return complaint


@pytest.mark.clock  # its reference carries the year in Klokot
@pytest.mark.parametrize("locale", LOCALES)
def test_complaint_with_photos_and_location(db: Database, tmp_path: Path, locale: str) -> None:
    chat = complaint_chat(db, "ana", locale, tmp_path / "media")
    asked = walk_to_photos(chat)
    assert t(locale, "complaints.ask_photos", max=5, max_mb=10) in asked
    first = texts(chat.send(f"!photo {photo_file(tmp_path, 'a.jpg', exif_gps=True)}"))
    assert t(locale, "complaints.photo_received", count=1, max=5) in first
    chat.send(f"!photo {photo_file(tmp_path, 'b.jpg', color=(0, 90, 0))}")
    location_question = tap(chat, "cph:done")
    assert t(locale, "complaints.ask_location", min=3, max=300) in location_question
    assert t(locale, "complaints.ask_anonymity") in texts(chat.send("!location 42.3697 21.3769"))
    summary = tap(chat, "canon:no")
    assert DESCRIPTION in summary and "42.36970, 21.37690" in summary
    assert t(locale, "complaints.kind.complaint") in summary
    registered = tap(chat, "cconf:yes")

    complaint = only_complaint(db)
    department = PROFILE.department("cadastre_urbanism")
    assert department is not None
    assert registered == t(locale, "complaints.registered.complaint",
                           reference=complaint.reference, department=department.label(locale))
    assert complaint.reference.startswith(f"C-{local_year()}-")
    assert (complaint.kind.value, complaint.category, complaint.department,
            complaint.settlement) == ("complaint", "lighting", "cadastre_urbanism", "klokot")
    assert (complaint.latitude, complaint.longitude) == (42.3697, 21.3769)
    assert complaint.description == DESCRIPTION and not complaint.anonymous
    # The worker fetched both photos right after the confirmation.
    with db.read_session() as session:
        photos = session.scalars(select(ComplaintPhoto).order_by(ComplaintPhoto.position)).all()
    assert [p.status for p in photos] == [PhotoStatus.stored, PhotoStatus.stored]
    assert all(Path(p.path or "").is_file() for p in photos)
    assert all(str(tmp_path / "media") in (p.path or "") for p in photos)
    assert b"PhoneMaker" not in Path(photos[0].path or "").read_bytes()  # EXIF not kept

    status = texts(chat.send("/status"))
    assert complaint.reference in status and t(locale, "complaints.state.open") in status
    history = tap(chat, f"cmp:show:{complaint.reference}")
    assert t(locale, "complaints.state.open") in history


@pytest.mark.parametrize("locale", LOCALES)
def test_anonymous_suggestion_with_typed_address_and_no_photos(db: Database, tmp_path: Path,
                                                               locale: str) -> None:
    chat = complaint_chat(db, "bo", locale, tmp_path)
    walk_to_photos(chat, kind="suggestion", category="public_space", settlement="abroad")
    tap(chat, "cph:done")
    assert t(locale, "complaints.ask_anonymity") in texts(chat.send("Park kod Doma kulture"))
    summary = tap(chat, "canon:yes")
    assert t(locale, "complaints.abroad") in summary
    assert t(locale, "complaints.anonymous_yes") in summary
    registered = tap(chat, "cconf:yes")
    complaint = only_complaint(db)
    assert complaint.anonymous and complaint.settlement == "abroad"
    assert complaint.address == "Park kod Doma kulture" and complaint.latitude is None
    assert complaint.kind.value == "suggestion"
    assert complaint.reference in registered


def test_the_anonymity_question_explains_what_anonymous_means(db: Database,
                                                              tmp_path: Path) -> None:
    chat = complaint_chat(db, "cira", "en", tmp_path)
    walk_to_photos(chat)
    tap(chat, "cph:done")
    question = tap(chat, "cloc:skip")
    assert "never see who sent it" in question and "comes back to you here" in question


def test_five_photos_at_most_then_the_location_question(db: Database, tmp_path: Path) -> None:
    chat = complaint_chat(db, "dara", "en", tmp_path / "media")
    walk_to_photos(chat)
    picture = photo_file(tmp_path)
    for _ in range(4):
        chat.send(f"!photo {picture}")
    fifth = texts(chat.send(f"!photo {picture}"))
    assert t("en", "complaints.photos_full", max=5) in fifth
    assert t("en", "complaints.ask_location", min=3, max=300) in fifth
    tap(chat, "cloc:skip")
    assert "Photos: 5" in tap(chat, "canon:no")
    tap(chat, "cconf:yes")
    with db.read_session() as session:
        assert len(session.scalars(select(ComplaintPhoto)).all()) == 5


@pytest.mark.parametrize(("line", "key"), [
    ("😀😀😀😀😀😀😀😀😀😀😀", "complaints.description_short"),
    ("          .          ", "complaints.description_short"),
    ("kratko", "complaints.description_short"),
])
def test_descriptions_without_words_are_refused(db: Database, tmp_path: Path, line: str,
                                                key: str) -> None:
    chat = complaint_chat(db, "ema", "en", tmp_path)
    chat.send("/complaint")
    tap(chat, "ckind:complaint")
    tap(chat, "ccat:roads")
    tap(chat, "cset:vrbovac")
    answer = texts(chat.send(line))
    assert t("en", key, min=10) in answer
    assert t("en", "complaints.ask_description.complaint", min=10, max=4000) in answer


def test_a_description_over_4000_characters_is_refused_and_nothing_saved(
        db: Database, tmp_path: Path) -> None:
    chat = complaint_chat(db, "fila", "en", tmp_path)
    chat.send("/complaint")
    tap(chat, "ckind:complaint")
    tap(chat, "ccat:roads")
    tap(chat, "cset:vrbovac")
    long_text = ("Rupa na putu. " * 300).strip()
    answer = texts(chat.send(long_text))
    assert t("en", "error.too_long", max=4000, got=len(long_text)) in answer
    with db.read_session() as session:
        assert session.scalars(select(Complaint)).all() == []


def test_a_file_that_is_not_a_picture_or_too_big_is_refused(db: Database,
                                                            tmp_path: Path) -> None:
    runtime = make_runtime(db, media_dir=tmp_path)
    chat = complaint_chat(db, "gaga", "en", tmp_path)
    walk_to_photos(chat)
    from bot.messages import Kind, Media

    pdf = make_incoming(kind=Kind.file, user="gaga", media=(
        Media(file_id="doc1", mime_type="application/pdf", size=2048, file_name="a.pdf"),))
    answer = texts(runtime.engine.handle(pdf).replies)
    assert t("en", "complaints.photo_not_image") in answer
    huge = make_incoming(kind=Kind.photo, user="gaga", media=(
        Media(file_id="big1", mime_type="image/jpeg", size=11 * 1024 * 1024),))
    answer = texts(runtime.engine.handle(huge).replies)
    assert t("en", "complaints.photo_too_big", max_mb=10) in answer
    sticker = make_incoming(kind=Kind.sticker, user="gaga")
    assert t("en", "error.expected_photo") in texts(runtime.engine.handle(sticker).replies)
    # Still waiting for photos, none recorded.
    answer = tap(chat, "cph:done")
    assert t("en", "complaints.ask_location", min=3, max=300) in answer


def test_a_location_off_the_globe_is_refused(db: Database, tmp_path: Path) -> None:
    chat = complaint_chat(db, "hana", "en", tmp_path)
    walk_to_photos(chat)
    tap(chat, "cph:done")
    answer = texts(chat.send("!location 95.0 21.37"))
    assert t("en", "complaints.location_invalid") in answer
    answer = texts(chat.send("!location 42.0 200.5"))
    assert t("en", "complaints.location_invalid") in answer
    assert t("en", "complaints.address_short", min=3) in texts(chat.send("🙂"))
    assert t("en", "complaints.ask_anonymity") in texts(chat.send("!location 42.37 21.37"))


def test_forged_buttons_are_refused(db: Database, tmp_path: Path) -> None:
    chat = complaint_chat(db, "ivo", "en", tmp_path)
    runtime = make_runtime(db)
    chat.send("/complaint")
    forged = make_incoming(user="ivo", payload="ckind:threat")
    assert t("en", "error.stale_button") in texts(runtime.engine.handle(forged).replies)
    tap(chat, "ckind:complaint")
    forged = make_incoming(user="ivo", payload="ccat:weapons")
    assert t("en", "error.stale_button") in texts(runtime.engine.handle(forged).replies)
    tap(chat, "ccat:waste")
    forged = make_incoming(user="ivo", payload="cset:belgrade")
    assert t("en", "error.stale_button") in texts(runtime.engine.handle(forged).replies)


def test_someone_elses_complaint_stays_hidden(db: Database, tmp_path: Path) -> None:
    owner = complaint_chat(db, "jana", "en", tmp_path)
    walk_to_photos(owner)
    tap(owner, "cph:done")
    tap(owner, "cloc:skip")
    tap(owner, "canon:yes")
    tap(owner, "cconf:yes")
    reference = only_complaint(db).reference
    runtime = make_runtime(db)
    stranger = complaint_chat(db, "kosta", "en", tmp_path)
    for payload in (f"cmp:show:{reference}", f"cmp:unsolved:{reference}"):
        forged = make_incoming(user="kosta", payload=payload)
        answer = texts(runtime.engine.handle(forged).replies)
        assert answer == t("en", "complaints.no_such_complaint")
        assert DESCRIPTION not in answer
    assert stranger.user == "kosta"
    assert only_complaint(db).status is ComplaintStatus.open


def test_back_goes_one_step_and_change_starts_over(db: Database, tmp_path: Path) -> None:
    chat = complaint_chat(db, "lela", "en", tmp_path)
    walk_to_photos(chat)
    assert t("en", "complaints.ask_description.complaint", min=10, max=4000) in tap(
        chat, "nav:back")
    chat.send(DESCRIPTION)
    tap(chat, "cph:done")
    tap(chat, "cloc:skip")
    tap(chat, "canon:no")
    assert t("en", "complaints.ask_kind") in tap(chat, "cconf:change")


def file_complaint(chat: TerminalChat, *, anonymous: bool = False) -> str:
    walk_to_photos(chat)
    tap(chat, "cph:done")
    tap(chat, "cloc:skip")
    tap(chat, "canon:yes" if anonymous else "canon:no")
    return tap(chat, "cconf:yes")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("anonymous", [False, True])
def test_replies_and_state_changes_reach_the_citizen(db: Database, tmp_path: Path,
                                                     locale: str, anonymous: bool) -> None:
    chat = complaint_chat(db, "mila", locale, tmp_path)
    file_complaint(chat, anonymous=anonymous)
    chat.deliver()
    runtime = make_runtime(db)
    with db.session() as session:
        complaint = session.scalars(select(Complaint)).one()
        reference = complaint.reference
        service.transition(session, PROFILE, runtime.catalogs, complaint,
                           ComplaintStatus.in_progress, by="officer", now=utcnow())
        service.reply(session, PROFILE, runtime.catalogs, complaint,
                      "Ekipa izlazi na teren u četvrtak.", by="officer", now=utcnow())
        service.note(session, complaint, "Interna beleška: pozvati elektro službu.",
                     by="officer", now=utcnow())
        service.transition(session, PROFILE, runtime.catalogs, complaint,
                           ComplaintStatus.resolved, by="officer", now=utcnow(),
                           text="Sijalica je zamenjena.")
    received = texts(chat.deliver())
    assert t(locale, "complaints.changed.in_progress", reference=reference,
             text="").strip() in received
    assert t(locale, "complaints.reply", reference=reference,
             text="Ekipa izlazi na teren u četvrtak.") in received
    assert t(locale, "complaints.changed.resolved", reference=reference,
             text="Sijalica je zamenjena.") in received
    assert "Interna beleška" not in received
    chat.send("/status")
    history = tap(chat, f"cmp:show:{reference}")
    assert "Ekipa izlazi na teren" in history and "Interna" not in history


def test_rejection_and_duplicate_say_why(db: Database, tmp_path: Path) -> None:
    first = complaint_chat(db, "nina", "en", tmp_path)
    file_complaint(first)
    second = complaint_chat(db, "ognjen", "en", tmp_path)
    file_complaint(second)
    runtime = make_runtime(db)
    with db.session() as session:
        original, copy = session.scalars(select(Complaint).order_by(Complaint.id)).all()
        with pytest.raises(Refused):
            service.transition(session, PROFILE, runtime.catalogs, copy,
                               ComplaintStatus.duplicate, by="o", now=utcnow(),
                               duplicate_of="C-1999-0001")
        with pytest.raises(Refused):
            service.transition(session, PROFILE, runtime.catalogs, copy,
                               ComplaintStatus.duplicate, by="o", now=utcnow(),
                               duplicate_of=copy.reference)
        service.transition(session, PROFILE, runtime.catalogs, copy, ComplaintStatus.duplicate,
                           by="o", now=utcnow(), duplicate_of=original.reference.lower())
        with pytest.raises(Refused):
            service.transition(session, PROFILE, runtime.catalogs, original,
                               ComplaintStatus.rejected, by="o", now=utcnow(), text="  ")
        service.transition(session, PROFILE, runtime.catalogs, original,
                           ComplaintStatus.rejected, by="o", now=utcnow(),
                           text="The street is not municipal.")
        refs = original.reference, copy.reference
    assert refs[0] in texts(second.deliver())
    assert "The street is not municipal." in texts(first.deliver())


def test_follow_up_four_weeks_after_resolved(db: Database, tmp_path: Path) -> None:
    chat = complaint_chat(db, "pera", "sr_Latn", tmp_path)
    file_complaint(chat)
    runtime = make_runtime(db)
    resolved_at = utcnow() - timedelta(days=29)
    with db.session() as session:
        complaint = session.scalars(select(Complaint)).one()
        service.transition(session, PROFILE, runtime.catalogs, complaint,
                           ComplaintStatus.resolved, by="officer", now=resolved_at)
        reference = complaint.reference
    chat.deliver()
    with db.session() as session:
        assert service.send_followups(session, PROFILE, runtime.catalogs,
                                      resolved_at + timedelta(days=27)) == 0
        assert service.send_followups(session, PROFILE, runtime.catalogs, utcnow()) == 1
        assert service.send_followups(session, PROFILE, runtime.catalogs, utcnow()) == 0
    asked = texts(chat.deliver())
    assert t("sr_Latn", "complaints.followup", reference=reference) in asked
    answer = tap(chat, f"cmp:unsolved:{reference}")
    assert answer == t("sr_Latn", "complaints.followup_thanks.unsolved", reference=reference)
    assert only_complaint(db).status is ComplaintStatus.open
    # The same question tapped again no longer applies.
    stale = texts(runtime.engine.handle(make_incoming(user="pera",
                                                      payload=f"cmp:solved:{reference}")).replies)
    assert stale == t("sr_Latn", "complaints.followup_stale", reference=reference,
                      state=t("sr_Latn", "complaints.state.open"))


def test_follow_up_yes_keeps_it_resolved_and_is_asked_once(db: Database,
                                                           tmp_path: Path) -> None:
    chat = complaint_chat(db, "rada", "en", tmp_path)
    file_complaint(chat)
    runtime = make_runtime(db)
    with db.session() as session:
        complaint = session.scalars(select(Complaint)).one()
        service.transition(session, PROFILE, runtime.catalogs, complaint,
                           ComplaintStatus.resolved, by="officer",
                           now=utcnow() - timedelta(days=30))
        reference = complaint.reference
        service.send_followups(session, PROFILE, runtime.catalogs, utcnow())
    chat.deliver()
    assert tap(chat, f"cmp:solved:{reference}") == t(
        "en", "complaints.followup_thanks.solved", reference=reference)
    assert only_complaint(db).status is ComplaintStatus.resolved
    with db.session() as session:
        assert service.send_followups(session, PROFILE, runtime.catalogs,
                                      utcnow() + timedelta(days=60)) == 0


def test_new_complaint_alerts_the_departments_officers(db: Database, tmp_path: Path) -> None:
    from tests.factories import make_citizen

    make_staff(db, "urban", role="department", department="cadastre_urbanism")
    make_staff(db, "water", role="department", department="agriculture")
    linked = {}
    for username in ("urban", "water"):
        account_citizen = make_citizen(db, channel="telegram", external_id=f"staff-{username}")
        from bot.models import ChannelAccount, StaffUser

        with db.session() as session:
            account = session.scalar(select(ChannelAccount).where(
                ChannelAccount.citizen_id == account_citizen))
            staff = session.scalar(select(StaffUser).where(StaffUser.username == username))
            assert account is not None and staff is not None
            staff.chat_account_id = account.id
            linked[username] = account.chat_id
    chat = complaint_chat(db, "sava", "en", tmp_path)
    file_complaint(chat)  # lighting → cadastre_urbanism
    with db.read_session() as session:
        chats = {row.chat_id for row in session.scalars(select(OutboxMessage))}
    assert linked["urban"] in chats and linked["water"] not in chats


# A suggestion or praise is told about in its own word, never called a complaint
# (#16, item 3).
KIND_WORDS = {
    "en": {"complaint": "complaint", "suggestion": "suggestion", "praise": "praise"},
    "sr_Latn": {"complaint": "žalb", "suggestion": "predlog", "praise": "pohval"},
    "sr_Cyrl": {"complaint": "жалб", "suggestion": "предлог", "praise": "похвал"},
    "sq": {"complaint": "ankes", "suggestion": "sugjerim", "praise": "lavdërim"},
}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", ["suggestion", "praise"])
def test_state_changes_name_the_kind(db: Database, tmp_path: Path, locale: str,
                                     kind: str) -> None:
    chat = complaint_chat(db, "vesna", locale, tmp_path)
    walk_to_photos(chat, kind=kind, category="public_space")
    tap(chat, "cph:done")
    tap(chat, "cloc:skip")
    tap(chat, "canon:no")
    tap(chat, "cconf:yes")
    chat.deliver()
    runtime = make_runtime(db)
    with db.session() as session:
        complaint = session.scalars(select(Complaint)).one()
        for status, text in ((ComplaintStatus.in_progress, None),
                             (ComplaintStatus.rejected, "Nije u nadležnosti opštine."),
                             (ComplaintStatus.open, None), (ComplaintStatus.resolved, None)):
            service.transition(session, PROFILE, runtime.catalogs, complaint, status,
                               by="officer", now=utcnow(), text=text)
    messages = [m.text.lower() for m in chat.deliver()]
    assert len(messages) == 4
    words = KIND_WORDS[locale]
    for message in messages:
        assert complaint.reference.lower() in message
        assert words["complaint"] not in message, message
    assert any(words[kind] in message for message in messages)
    with db.session() as session:  # nothing to be "really solved" four weeks later
        assert service.send_followups(session, PROFILE, runtime.catalogs,
                                      utcnow() + timedelta(days=40)) == 0
