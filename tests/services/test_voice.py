"""The voice messages' rules beside the flows: a recording longer than
3 minutes by its own bytes (Viber says no length) is refused after filing
and the citizen told once; retention removes old recordings as it does
photos; erasure removes the citizen's recordings at once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.channels.terminal import LocalFiles
from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.models import (
    Booking,
    BookingStatus,
    Citizen,
    Complaint,
    ComplaintStatus,
    OutboxMessage,
    VoiceMessage,
    VoiceStatus,
)
from bot.profile import get_profile
from bot.services import data_rights, voice
from tests.factories import make_booking, make_complaint, make_voice, wav_bytes

PROFILE = get_profile()
T = Catalogs()


def fetcher(db: Database, media_dir: Path) -> voice.VoiceFetcher:
    return voice.VoiceFetcher(db, {"terminal": LocalFiles()}, media_dir, PROFILE, T)


def pending_of(db: Database, reference: str, path: Path) -> int:
    with db.session() as session:
        complaint = session.scalars(select(Complaint).where(
            Complaint.reference == reference)).one()
        row = voice.record(session, {"channel": "terminal", "url": path.resolve().as_uri(),
                                     "file_name": path.name, "duration": None},
                           citizen_id=complaint.citizen_id or 0, now=utcnow(),
                           complaint=complaint)
        assert row is not None
        session.flush()
        return row.id


def test_longer_than_three_minutes_by_its_bytes_is_refused_and_told_once(
        db: Database, tmp_path: Path) -> None:
    reference = make_complaint(db, description="(glasovna poruka)", channel="terminal")
    long_one = tmp_path / "long.wav"
    long_one.write_bytes(wav_bytes(190, rate=800))
    voice_id = pending_of(db, reference, long_one)
    assert asyncio.run(fetcher(db, tmp_path / "media").run_once()) == 1
    with db.read_session() as session:
        row = session.get(VoiceMessage, voice_id)
        assert row is not None and row.status is VoiceStatus.rejected
        assert (row.error or "").startswith("too_long") and row.path is None
        told = [m.body["text"] for m in session.scalars(select(OutboxMessage))
                if "3" in m.body["text"] and reference in m.body["text"]]
    assert told == [T.gettext("en", "voice.not_kept.too_long", reference=reference,
                              max_minutes=3, max_mb=10)]
    assert asyncio.run(fetcher(db, tmp_path / "media").run_once()) == 0
    with db.read_session() as session:
        assert session.get(Complaint, row.complaint_id) is not None  # the complaint stands


def test_retention_removes_old_recordings_as_it_does_photos(db: Database,
                                                            tmp_path: Path) -> None:
    now = utcnow()
    old = make_complaint(db)
    fresh = make_complaint(db)
    booking = make_booking(db, day=date.today() - timedelta(days=500))
    ids = [make_voice(db, complaint=old, media_dir=tmp_path),
           make_voice(db, complaint=fresh, media_dir=tmp_path),
           make_voice(db, booking=booking, media_dir=tmp_path)]
    with db.session() as session:
        for complaint in session.scalars(select(Complaint)):
            complaint.status = ComplaintStatus.resolved
            complaint.closed_at = now - timedelta(
                days=PROFILE.photo_retention_days + (1 if complaint.reference == old else -1))
        session.scalars(select(Booking)).one().status = BookingStatus.attended
    with db.session() as session:
        result = data_rights.apply_retention(session, PROFILE, now)
    assert result["voice_messages"] == 2
    with db.read_session() as session:
        rows = [session.get(VoiceMessage, i) for i in ids]
    assert [r.status for r in rows if r] == [VoiceStatus.deleted, VoiceStatus.stored,
                                              VoiceStatus.deleted]
    assert [bool(r.path) for r in rows if r] == [False, True, False]


def test_erasure_removes_the_citizens_recordings_at_once(db: Database,
                                                         tmp_path: Path) -> None:
    mine = make_complaint(db)
    theirs = make_complaint(db)
    gone = make_voice(db, complaint=mine, media_dir=tmp_path / "a")
    stays = make_voice(db, complaint=theirs, media_dir=tmp_path / "b")
    with db.session() as session:
        path = Path(session.get(VoiceMessage, gone).path or "")  # type: ignore[union-attr]
        owner = session.scalars(select(Complaint).where(Complaint.reference == mine)).one()
        citizen = session.get(Citizen, owner.citizen_id)
        assert citizen is not None and path.is_file()
        data_rights.erase(session, citizen, now=utcnow())
    with db.read_session() as session:
        erased, kept = session.get(VoiceMessage, gone), session.get(VoiceMessage, stays)
        assert erased is not None and kept is not None
        assert erased.status is VoiceStatus.deleted and erased.path is None
        assert kept.status is VoiceStatus.stored and Path(kept.path or "").is_file()
    assert not path.exists()
