"""Keyword-argument factories (GOV.UK Notify style): a test says what it needs."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.config import Settings
from bot.db import Database
from bot.messages import Incoming, Kind, Reply
from bot.runtime import Runtime, build_runtime

_keys = itertools.count(1)


def make_settings(database_url: str = "sqlite://", data_dir: Path | None = None,
                  **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": "test-secret-key-0123456789abcdef",
        "survey_key": "test-survey-key-0123456789abcdef",
        "telegram_bot_token": None,
        "viber_auth_token": None,
        "outbox_in_web": False,
    }
    if data_dir is not None:
        values["data_dir"] = data_dir
        values["media_dir"] = data_dir / "media"
    values.update(overrides)
    return Settings(_env_file=None, **values)


def make_runtime(db: Database, **settings: Any) -> Runtime:
    return build_runtime(make_settings(db.url, **settings), db=db, quiet=True)


def make_incoming(text: str | None = None, *, kind: Kind | None = None, user: str = "u1",
                  channel: str = "terminal", payload: str | None = None,
                  update_key: str | None = None, **fields: Any) -> Incoming:
    """A text, a /command (when text starts with /) or a button (payload=…)."""
    if kind is None:
        if payload is not None:
            kind = Kind.button
        elif text and text.startswith("/"):
            kind = Kind.command
        else:
            kind = Kind.text
    if kind is Kind.command and text and "command" not in fields:
        command, _, args = text[1:].partition(" ")
        fields.update(command=command, args=args)
    return Incoming(channel=channel, user_id=user, chat_id=user, kind=kind,
                    update_key=update_key or f"k{next(_keys)}", text=text, payload=payload,
                    **fields)


def texts(replies: list[Reply]) -> str:
    return "\n".join(reply.text for reply in replies)


def payloads(replies: list[Reply]) -> list[str]:
    return [b.payload for reply in replies for row in reply.buttons for b in row]


PASSWORD = "correct-horse-battery-staple"


def make_staff(db: Database, username: str = "officer", role: str = "admin",
               department: str | None = None, password: str = PASSWORD,
               language: str = "en") -> int:
    """An officer account, as `klokot-bot staff add` makes it; returns its id."""
    from bot.models.staff import Role
    from bot.profile import get_profile
    from bot.staff.accounts import create_staff

    with db.session() as session:
        staff = create_staff(session, get_profile(), username=username, password=password,
                             role=Role(role), department=department, language=language)
        return staff.id


def load_staff(session: Any, staff_id: int) -> Any:
    """The officer `make_staff` made, in the session a use-case runs in."""
    from bot.models.staff import StaffUser

    found = session.get(StaffUser, staff_id)
    assert found is not None
    return found


def audit_log(db: Database, prefix: str) -> list[Any]:
    """The audit entries whose action starts with `prefix` (e.g. "complaints."), oldest first."""
    from bot.models.staff import AuditEntry

    with db.read_session() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)))


def make_citizen(db: Database, *, channel: str = "telegram", external_id: str = "1",
                 language: str | None = "sr_Latn", settlement: str | None = "klokot",
                 full_name: str | None = "Jovana Petrović", phone: str | None = "+38344123456",
                 blocked: bool = False) -> int:
    from bot.db import utcnow
    from bot.models import ChannelAccount, Citizen

    with db.session() as session:
        citizen = Citizen(language=language, settlement=settlement, full_name=full_name,
                          phone=phone)
        session.add(citizen)
        session.flush()
        session.add(ChannelAccount(citizen_id=citizen.id, channel=channel,
                                   external_id=external_id, chat_id=external_id,
                                   blocked_at=utcnow() if blocked else None))
        return citizen.id


def make_day(db: Database, *, day: date, start: str = "09:00", slots: int = 15,
             slot_minutes: int = 20, closed: bool = False,
             closed_reason: str | None = None) -> int:
    """A reception day, as staff or the weekly pattern make it; returns its id."""
    from datetime import time

    from bot.models import ReceptionDay

    with db.session() as session:
        found = session.scalar(select(ReceptionDay).where(ReceptionDay.day == day))
        if found is not None:
            return found.id
        hour, minute = (int(part) for part in start.split(":"))
        row = ReceptionDay(day=day, start=time(hour, minute), slots=slots,
                           slot_minutes=slot_minutes, closed=closed, closed_reason=closed_reason)
        session.add(row)
        session.flush()
        return row.id


def make_booking(db: Database, *, day: date, slot_index: int = 0,
                 citizen_id: int | None = None, language: str | None = "sr_Latn",
                 channel: str = "telegram", topic: str = "The road to Vrbovac needs repair",
                 full_name: str = "Jovana Petrović", phone: str = "+38344123456",
                 settlement: str = "klokot") -> str:
    """A booking made through the service (so its rules hold), by a new
    citizen unless one is given, as if booked a week before the day; returns
    its reference."""
    from datetime import UTC, datetime, timedelta

    from bot.models import ChannelAccount, Citizen
    from bot.profile import get_profile
    from bot.services import reception as service

    day_id = make_day(db, day=day)
    if citizen_id is None:
        citizen_id = make_citizen(db, channel=channel, external_id=f"b{next(_keys)}",
                                  language=language, full_name=full_name, phone=phone,
                                  settlement=settlement)
    booked_at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(days=7)
    with db.session() as session:
        citizen = session.get(Citizen, citizen_id)
        assert citizen is not None
        account = session.scalar(select(ChannelAccount).where(
            ChannelAccount.citizen_id == citizen_id))
        assert account is not None
        booking = service.book(session, get_profile(), citizen=citizen, account=account,
                               day_id=day_id, slot_index=slot_index, topic=topic,
                               full_name=full_name, phone=phone, settlement=settlement,
                               now=booked_at)
        return booking.reference


def make_urgent(db: Database, *, topic: str = "The water pipe in Mogila burst",
                phone: str = "+38344999888", full_name: str = "Marko Jovanović") -> str:
    """An urgent reception request, as the chat flow makes it; returns its reference."""
    from bot.db import utcnow
    from bot.i18n import Catalogs
    from bot.models import ChannelAccount, Citizen
    from bot.profile import get_profile
    from bot.services import reception as service

    citizen_id = make_citizen(db, external_id=f"u{next(_keys)}", full_name=full_name,
                              phone=phone)
    with db.session() as session:
        citizen = session.get(Citizen, citizen_id)
        account = session.scalar(select(ChannelAccount).where(
            ChannelAccount.citizen_id == citizen_id))
        assert citizen is not None and account is not None
        profile = get_profile()
        request = service.create_urgent(session, profile, Catalogs(profile.enabled_locales),
                                        citizen=citizen, account=account, topic=topic,
                                        phone=phone, full_name=full_name, now=utcnow())
        return request.reference


def make_document_request(db: Database, *, registered_at: Any = None,
                          department: str | None = "cadastre_urbanism",
                          life_or_liberty: bool = False, form: str = "electronic",
                          description: str = "The 2025 building permits for Klokot",
                          full_name: str | None = "Arta Krasniqi", language: str | None = "en",
                          channel: str = "telegram") -> str:
    """A request for a public document registered through the service (so the
    legal clock holds), by a new citizen, now unless `registered_at` says
    otherwise; returns its reference."""
    from bot.db import utcnow
    from bot.models import ChannelAccount, Citizen, DocumentForm
    from bot.profile import get_profile
    from bot.services import documents as service

    citizen_id = make_citizen(db, channel=channel, external_id=f"d{next(_keys)}",
                              language=language, full_name=full_name)
    with db.session() as session:
        citizen = session.get(Citizen, citizen_id)
        account = session.scalar(select(ChannelAccount).where(
            ChannelAccount.citizen_id == citizen_id))
        assert citizen is not None and account is not None
        request = service.register(session, get_profile(), citizen=citizen, account=account,
                                   description=description, department=department,
                                   form=DocumentForm(form), life_or_liberty=life_or_liberty,
                                   full_name=full_name, now=registered_at or utcnow())
        return request.reference


def jpeg_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 80, 40),
               exif_gps: bool = False) -> bytes:
    """A real JPEG picture; with `exif_gps`, one that carries a GPS position
    in its EXIF, as phone photos do."""
    import io

    from PIL import Image

    image = Image.new("RGB", (width, height), color)
    buffer = io.BytesIO()
    if exif_gps:
        exif = Image.Exif()
        exif[0x8825] = {1: "N", 2: (42.0, 22.0, 10.0), 3: "E", 4: (21.0, 22.0, 30.0)}
        exif[0x010F] = "PhoneMaker"
        image.save(buffer, "JPEG", exif=exif.tobytes())
    else:
        image.save(buffer, "JPEG")
    return buffer.getvalue()


def make_complaint(db: Database, *, kind: str = "complaint", category: str = "lighting",
                   settlement: str | None = "klokot",
                   description: str = "The street light by the school in Klokot is out",
                   anonymous: bool = False, full_name: str | None = "Arta Krasniqi",
                   phone: str | None = "+38344123456", language: str | None = "en",
                   channel: str = "telegram", latitude: float | None = 42.3697,
                   longitude: float | None = 21.3769, address: str | None = None,
                   created_at: Any = None, photos: int = 0,
                   media_dir: Path | None = None) -> str:
    """A complaint registered through the service by a new citizen; with
    `photos` and `media_dir`, that many stored photos (real JPEG files).
    Returns its reference."""
    from bot.db import utcnow
    from bot.i18n import Catalogs
    from bot.models import ChannelAccount, Citizen, ComplaintKind, ComplaintPhoto, PhotoStatus
    from bot.profile import get_profile
    from bot.services import complaints as service

    profile = get_profile()
    citizen_id = make_citizen(db, channel=channel, external_id=f"c{next(_keys)}",
                              language=language, full_name=full_name, phone=phone)
    now = created_at or utcnow()
    with db.session() as session:
        citizen = session.get(Citizen, citizen_id)
        account = session.scalar(select(ChannelAccount).where(
            ChannelAccount.citizen_id == citizen_id))
        assert citizen is not None and account is not None
        complaint = service.register(
            session, profile, Catalogs(profile.enabled_locales), citizen=citizen,
            account=account, kind=ComplaintKind(kind), category_code=category,
            settlement=settlement, description=description, photos=[], latitude=latitude,
            longitude=longitude, address=address, anonymous=anonymous, now=now)
        for position in range(1, photos + 1):
            assert media_dir is not None, "stored photos need a media_dir"
            folder = media_dir / "complaints" / complaint.reference
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{position}-test.jpg"
            data = jpeg_bytes(color=(40 * position % 255, 120, 200))
            path.write_bytes(data)
            session.add(ComplaintPhoto(
                complaint_id=complaint.id, position=position, channel=channel,
                file_id=f"file-{position}", status=PhotoStatus.stored, path=str(path.resolve()),
                mime_type="image/jpeg", size=len(data), width=64, height=48, stored_at=now))
        return complaint.reference


def make_pending_photo(db: Database, url: str | None, *, channel: str = "viber",
                       file_id: str | None = None) -> str:
    """A complaint from a citizen on CHANNEL whose one photo (at URL, or by
    the platform's FILE_ID) the worker has still to fetch. Returns the
    complaint's reference."""
    from bot.models import Complaint, ComplaintPhoto

    reference = make_complaint(db, channel=channel)
    with db.session() as session:
        complaint = session.scalars(select(Complaint).where(
            Complaint.reference == reference)).one()
        session.add(ComplaintPhoto(complaint_id=complaint.id, position=1, channel=channel,
                                   url=url, file_id=file_id))
    return reference


def seed_subscribers(db: Database, count: int, *, topic: str = "public_debates",
                     viber_first: int = 0, telegram_base: int = 50_000) -> None:
    """`count` citizens subscribed to `topic`, languages in turn, each with an
    account (the first `viber_first` on Viber, the rest on Telegram as user
    `telegram_base + i`) and its conversation row, as the engine makes them;
    bulk inserts, for benchmarks and broadcast tests."""
    from sqlalchemy import insert, text

    from bot.db import utcnow
    from bot.models import ChannelAccount, Citizen, Conversation, Subscription

    now = utcnow()
    languages = ("sr_Latn", "sr_Cyrl", "sq", "en")
    ids = range(1, count + 1)
    with db.session() as session:
        session.execute(insert(Citizen), [
            {"id": i, "language": languages[i % 4], "settlement": "klokot",
             "created_at": now, "last_seen_at": now} for i in ids])
        session.execute(insert(ChannelAccount), [
            {"id": i, "citizen_id": i, "channel": "viber" if i <= viber_first else "telegram",
             "external_id": f"v{i}" if i <= viber_first else str(telegram_base + i),
             "chat_id": f"v{i}" if i <= viber_first else str(telegram_base + i),
             "first_seen_at": now, "last_inbound_at": now}  # a Viber session is open
            for i in ids])
        session.execute(insert(Conversation), [
            {"account_id": i, "data": {}, "updated_at": now} for i in ids])
        if session.get_bind().dialect.name == "postgresql":  # explicit ids: move the sequences
            for table in ("citizen", "channel_account"):
                session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))
        session.execute(insert(Subscription), [
            {"citizen_id": i, "topic": topic, "created_at": now} for i in ids])


# --- recordings (voice messages) ---------------------------------------------------

def wav_bytes(seconds: float = 2.0, rate: int = 8000) -> bytes:
    """A real PCM WAV recording of a tone (any browser plays it)."""
    import io
    import math
    import struct
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(
            struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(rate * seconds))))
    return buffer.getvalue()


def _ogg_page(serial: int, sequence: int, granule: int, packet: bytes, flags: int = 0) -> bytes:
    import struct

    segments = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = (b"OggS" + bytes([0, flags]) + struct.pack("<qIII", granule, serial, sequence, 0)
              + bytes([len(segments)]) + bytes(segments))
    return header + packet


def ogg_opus_bytes(seconds: float = 42.0, padding: int = 2000) -> bytes:
    """An OGG/Opus stream as a phone's voice note is laid out (head, tags,
    audio pages whose last granule says the length); the audio packets are
    filler, so it is a recording by its container, not one to listen to."""
    import struct

    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 48_000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    pages = [_ogg_page(7, 0, 0, head, flags=2), _ogg_page(7, 1, 0, tags)]
    pages.append(_ogg_page(7, 2, int(seconds * 24_000), b"\xfc" * padding))
    pages.append(_ogg_page(7, 3, int(seconds * 48_000) + 312, b"\xfc" * 200, flags=4))
    return b"".join(pages)


def mp3_bytes(seconds: float = 5.0) -> bytes:
    """MPEG-1 layer III frames at 128 kbit/s and 44.1 kHz (417 bytes, 1152
    samples each), after an ID3v2 tag: an MP3 by its frames, silent filler."""
    frames = int(seconds * 44_100 / 1152)
    frame = b"\xff\xfb\x90\x64" + b"\x00" * 413
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10
    return id3 + frame * frames


def _box(kind: bytes, body: bytes) -> bytes:
    import struct

    return struct.pack(">I", 8 + len(body)) + kind + body


def m4a_bytes(seconds: int, handler: bytes = b"soun") -> bytes:
    """An M4A (MP4 with a sound track) as far as its boxes say: its length in
    `mvhd`; with `handler=b"vide"` it has a video track."""
    import struct

    mvhd = _box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, seconds * 1000)
                + bytes(80))
    hdlr = _box(b"hdlr", bytes(4) + bytes(4) + handler + bytes(12))
    return (_box(b"ftyp", b"M4A " + bytes(4) + b"M4A isom")
            + _box(b"moov", mvhd + _box(b"trak", _box(b"mdia", hdlr))))


def make_voice(db: Database, *, media_dir: Path, complaint: str | None = None,
               booking: str | None = None, urgent: str | None = None,
               data: bytes | None = None,
               mime_type: str = "audio/wav", suffix: str = ".wav",
               duration: int = 2) -> int:
    """A stored voice message (a real file under `media_dir`) of the
    complaint, booking or urgent request with this reference; returns its id."""
    from bot.db import utcnow
    from bot.models import Booking, Complaint, UrgentRequest, VoiceMessage, VoiceStatus

    data = data if data is not None else wav_bytes(duration)
    with db.session() as session:
        owner: Any
        if complaint is not None:
            owner = session.scalar(select(Complaint).where(Complaint.reference == complaint))
        elif booking is not None:
            owner = session.scalar(select(Booking).where(Booking.reference == booking))
        else:
            owner = session.scalar(select(UrgentRequest).where(
                UrgentRequest.reference == urgent))
        assert owner is not None
        folder = media_dir / "voice" / owner.reference
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"voice-test{suffix}"
        path.write_bytes(data)
        row = VoiceMessage(
            citizen_id=owner.citizen_id, complaint_id=owner.id if complaint else None,
            booking_id=owner.id if booking else None, urgent_id=owner.id if urgent else None,
            channel="telegram", file_id="voice-1",
            duration=duration, status=VoiceStatus.stored, path=str(path.resolve()),
            mime_type=mime_type, size=len(data), stored_at=utcnow())
        session.add(row)
        session.flush()
        return row.id


def nth_day_off_pattern(start: date, n: int, weekday: int) -> date:
    """The n-th day after `start` that is not on `weekday` (the reception's
    weekly pattern), counting only such days: distinct n are distinct days on
    any date, where "n days ahead, or the next if that is the pattern's" made
    the eighth and the ninth one day in some weeks."""
    day = start
    while n > 0:
        day += timedelta(days=1)
        n -= day.weekday() != weekday
    return day
