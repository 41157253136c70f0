"""Voice messages instead of typing (issue #19): the limits a recording is
held to, the text a complaint or booking carries in its place, and the
worker's fetcher that downloads each recording like a complaint photo (the
same sources, allow-listed hosts and one deadline per download), checks by
its bytes that it is audio of at most 3 minutes and 10 MB, and keeps it
under MEDIA_DIR. The complaint or booking never waits for it: it is filed
with "(voice message)" as its text, and the recording is attached when
fetched; one that cannot be kept is told to the citizen once."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.base import MediaRefused, MediaTooBig
from bot.db import utcnow
from bot.i18n import Catalogs, Translate
from bot.messages import Media, Reply
from bot.models import Booking, Complaint, UrgentRequest, VoiceMessage, VoiceStatus
from bot.models.complaints import CLOSED
from bot.models.reception import BookingStatus, UrgentStatus
from bot.outbox.queue import Purpose
from bot.profile import Profile
from bot.services import audio
from bot.services.media_fetch import MAX_ATTEMPTS, MAX_BYTES, MediaFetcher, retry_at
from bot.services.notify import tell_citizen

log = logging.getLogger(__name__)
MAX_SECONDS = 3 * 60
MARKER_KEY = "voice.marker"  # "(voice message)"


def length_label(seconds: int | float | None) -> str:
    """0:42, 2:05: a recording's length as a phone shows it."""
    whole = round(seconds or 0)
    return f"{whole // 60}:{whole % 60:02d}"


def problem(media: Media) -> str | None:
    """Why this recording is refused before anything is fetched (`too_long`,
    `too_big`), from what the platform says; None when it may be kept."""
    if media.duration is not None and media.duration > MAX_SECONDS:
        return "too_long"
    if media.size is not None and media.size > MAX_BYTES:
        return "too_big"
    return None


def marker(profile: Profile, catalogs: Catalogs) -> str:
    """The text stored where the citizen spoke instead of typing, in the
    municipality's own language, so that lists, exports and Open311 read well."""
    return catalogs.gettext(profile.default_locale, MARKER_KEY)


def text_with_marker(profile: Profile, catalogs: Catalogs, caption: str | None) -> str:
    """A caption the citizen typed under the recording, then the marker."""
    mark = marker(profile, catalogs)
    caption = (caption or "").strip()
    return f"{caption}\n{mark}" if caption else mark


def to_data(channel: str, media: Media) -> dict[str, object]:
    """The recording as a flow keeps it in the conversation until confirmed."""
    return {"channel": channel, "file_id": media.file_id, "url": media.url,
            "file_name": media.file_name, "duration": media.duration}


def record(session: Session, data: dict[str, object] | None, *, citizen_id: int,
           now: datetime, complaint: Complaint | None = None, booking: Booking | None = None,
           urgent: UrgentRequest | None = None) -> VoiceMessage | None:
    """A pending recording for what was just filed (the worker fetches it)."""
    if not data:
        return None
    duration = data.get("duration")
    row = VoiceMessage(
        citizen_id=citizen_id, complaint_id=complaint.id if complaint else None,
        booking_id=booking.id if booking else None, urgent_id=urgent.id if urgent else None,
        channel=str(data["channel"]), file_id=_text(data.get("file_id")),
        url=_text(data.get("url")), file_name=_text(data.get("file_name"), 255),
        duration=int(duration) if isinstance(duration, int | float) else None,
        status=VoiceStatus.pending, next_attempt_at=now, created_at=now)
    session.add(row)
    return row


def _text(value: object, limit: int | None = None) -> str | None:
    return str(value)[:limit] if value else None


def attached(session: Session, *, complaint_id: int | None = None,
             booking_id: int | None = None,
             urgent_ids: list[int] | None = None) -> list[VoiceMessage]:
    """The recordings of a complaint, a booking or some urgent requests, oldest first."""
    stmt = select(VoiceMessage).order_by(VoiceMessage.id)
    if complaint_id is not None:
        stmt = stmt.where(VoiceMessage.complaint_id == complaint_id)
    elif booking_id is not None:
        stmt = stmt.where(VoiceMessage.booking_id == booking_id)
    elif urgent_ids:
        stmt = stmt.where(VoiceMessage.urgent_id.in_(urgent_ids))
    else:
        return []
    return list(session.scalars(stmt))


def stored_file(row: VoiceMessage | None) -> tuple[Path, str] | None:
    """The file and media type of a stored recording, when it is there."""
    if (row is None or row.status is not VoiceStatus.stored or not row.path
            or not Path(row.path).is_file()):
        return None
    return Path(row.path), row.mime_type or "application/octet-stream"


def _delete_file(row: VoiceMessage) -> None:
    if row.path:
        Path(row.path).unlink(missing_ok=True)
    row.path = None
    if row.status in (VoiceStatus.stored, VoiceStatus.pending):
        row.status = VoiceStatus.deleted


def erase_of(session: Session, citizen_id: int) -> int:
    """A citizen's erasure: their recordings' files go (a voice identifies a
    person), the rows stay as `deleted`; the submissions keep their text."""
    rows = session.scalars(select(VoiceMessage).where(VoiceMessage.citizen_id == citizen_id))
    count = 0
    for row in rows:
        _delete_file(row)
        row.file_id = row.url = row.file_name = None
        count += 1
    return count


def apply_retention(session: Session, cutoff: datetime) -> int:
    """As for photos: the recordings of complaints closed before `cutoff`,
    of bookings whose day was before it (and no longer booked), and of
    urgent requests handled before it."""
    old = select(VoiceMessage).where(VoiceMessage.path.is_not(None))
    rows = [
        *session.scalars(old.join(Complaint, Complaint.id == VoiceMessage.complaint_id).where(
            Complaint.status.in_(list(CLOSED)), Complaint.closed_at < cutoff)),
        *session.scalars(old.join(Booking, Booking.id == VoiceMessage.booking_id).where(
            Booking.status != BookingStatus.booked, Booking.starts_at < cutoff)),
        *session.scalars(old.join(UrgentRequest, UrgentRequest.id == VoiceMessage.urgent_id)
                         .where(UrgentRequest.status == UrgentStatus.handled,
                                UrgentRequest.handled_at < cutoff)),
    ]
    for row in rows:
        _delete_file(row)
    return len(rows)


# --- the worker's fetcher ------------------------------------------------------------

@dataclass(frozen=True)
class _Job:
    voice_id: int
    channel: str
    file_id: str | None
    url: str | None


class VoiceFetcher(MediaFetcher[_Job]):
    """Run beside the photo fetcher: fetch due recordings, check them, keep them."""

    def _claim(self, now: datetime) -> list[_Job]:
        if not self.sources:
            return []
        with self.db.session() as session:
            rows = session.scalars(
                select(VoiceMessage)
                .where(VoiceMessage.status == VoiceStatus.pending,
                       VoiceMessage.next_attempt_at <= now,
                       VoiceMessage.channel.in_(list(self.sources)))
                .order_by(VoiceMessage.id).limit(self.batch)).all()
            for row in rows:
                row.next_attempt_at = self.claim_until(now)
            return [_Job(r.id, r.channel, r.file_id, r.url) for r in rows]

    async def _fetch(self, job: _Job) -> None:
        try:
            data = await self.download(job.channel, job.file_id, job.url)
            info = audio.sniff(data)
            if len(data) > MAX_BYTES:
                raise MediaTooBig(f"{len(data)} bytes")
        except audio.NotAudio as exc:
            await asyncio.to_thread(self._refused, job, "not_audio", str(exc))
            return
        except MediaTooBig as exc:
            await asyncio.to_thread(self._refused, job, "too_big", str(exc))
            return
        except MediaRefused as exc:
            log.warning("voice message %s not fetched: %s", job.voice_id, exc)
            await asyncio.to_thread(self._refused, job, "unavailable", str(exc))
            return
        except Exception as exc:  # network, 5xx: try again later
            log.info("voice message %s: fetch failed, will retry: %s", job.voice_id, exc)
            await asyncio.to_thread(self._retry_later, job, f"{type(exc).__name__}: {exc}")
            return
        if info.duration is not None and info.duration > MAX_SECONDS + 1:
            await asyncio.to_thread(self._refused, job, "too_long",
                                    f"{info.duration:.0f} s")
            return
        await asyncio.to_thread(self._stored, job, data, info)

    def _folder(self, row: VoiceMessage, session: Session) -> Path:
        if row.complaint_id is not None:
            complaint = session.get(Complaint, row.complaint_id)
            return self.media_dir / "complaints" / (complaint.reference if complaint else "_")
        owner = (session.get(Booking, row.booking_id) if row.booking_id is not None
                 else session.get(UrgentRequest, row.urgent_id or 0))
        return self.media_dir / "reception" / (owner.reference if owner else "_")

    def _stored(self, job: _Job, data: bytes, info: audio.AudioInfo) -> None:
        with self.db.session() as session:
            row = session.get(VoiceMessage, job.voice_id)
            if row is None or row.status is not VoiceStatus.pending:  # erased meanwhile
                return
            folder = self._folder(row, session)
            folder.mkdir(parents=True, exist_ok=True)
            path = (folder / f"voice-{row.id}-{secrets.token_hex(8)}{info.suffix}").resolve()
            path.write_bytes(data)
            row.status = VoiceStatus.stored
            row.path, row.mime_type, row.size = str(path), info.mime_type, len(data)
            if info.duration is not None:
                row.duration = round(info.duration)
            row.attempts += 1
            row.stored_at = utcnow()
            row.error = None

    def _refused(self, job: _Job, reason: str, detail: str) -> None:
        with self.db.session() as session:
            row = session.get(VoiceMessage, job.voice_id)
            if row is None or row.status is not VoiceStatus.pending:
                return
            row.status = VoiceStatus.failed if reason == "unavailable" else VoiceStatus.rejected
            row.attempts += 1
            row.error = f"{reason}: {detail}"[:300]
            self._tell(session, row, reason)

    def _retry_later(self, job: _Job, detail: str) -> None:
        with self.db.session() as session:
            row = session.get(VoiceMessage, job.voice_id)
            if row is None or row.status is not VoiceStatus.pending:
                return
            row.attempts += 1
            row.error = detail[:300]
            if row.attempts >= MAX_ATTEMPTS:
                row.status = VoiceStatus.failed
                self._tell(session, row, "unavailable")
            else:
                row.next_attempt_at = retry_at(row.attempts)

    def _tell(self, session: Session, row: VoiceMessage, reason: str) -> None:
        """The citizen learns, once, that the recording was not kept; what
        they filed stands, and they can write what they said."""
        owner: Complaint | Booking | UrgentRequest | None
        if row.complaint_id is not None:
            owner = session.get(Complaint, row.complaint_id)
        elif row.booking_id is not None:
            owner = session.get(Booking, row.booking_id)
        else:
            owner = session.get(UrgentRequest, row.urgent_id or 0)
        if owner is None:
            return
        reference = owner.reference

        def message(t: Translate, locale: str) -> Reply:
            return Reply(t(f"voice.not_kept.{reason}", reference=reference,
                           max_minutes=MAX_SECONDS // 60, max_mb=MAX_BYTES // (1024 * 1024)))

        purpose = Purpose.complaint_update if row.complaint_id else Purpose.other
        tell_citizen(session, self.profile, self.catalogs, citizen_id=owner.citizen_id,
                     account_id=owner.account_id, message=message, now=utcnow(),
                     dedupe_key=f"voice:{row.id}", purpose=purpose)


# --- what the flows say -----------------------------------------------------------

def received_note(t: Translate, media: Media) -> str:
    """"🎤 Voice message received, 0:42" (without the length where the platform gave none)."""
    if media.duration is None:
        return t("voice.received_no_length")
    return t("voice.received", length=length_label(media.duration))


def refusal(t: Translate, reason: str) -> str:
    """Why a recording is not taken at this step, and that typing works."""
    return t(f"voice.refused.{reason}", max_minutes=MAX_SECONDS // 60,
             max_mb=MAX_BYTES // (1024 * 1024))


def shown_text(t: Translate, caption: str | None) -> str:
    """The text the citizen sees for what they said, in their language."""
    caption = (caption or "").strip()
    return f"{caption}\n{t(MARKER_KEY)}" if caption else t(MARKER_KEY)
