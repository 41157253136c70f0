"""Complaint photos: the worker fetches each one from its platform, checks it
is really an image of at most 10 MB, and keeps a clean copy (re-encoded, so
the phone's EXIF — GPS position, device serial — is not kept) under
MEDIA_DIR. A failed download is retried with backoff; the complaint itself
never depends on its photos.

A download has one overall deadline (MEDIA_FETCH_SECONDS), whatever the
platform's server does — a server that answers one byte every few seconds
never trips a per-read timeout. The worker runs the fetcher in a task of its
own, beside the sender (see `bot.outbox.sender.Timer`), so no download holds
up a reply; a fetch cut short (the deadline, or the worker stopping) leaves
the photo pending, to be tried again later."""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import warnings
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.base import MediaRefused, MediaTooBig
from bot.db import utcnow
from bot.models import Complaint, ComplaintPhoto, PhotoStatus
from bot.services import complaints
from bot.services.media_fetch import MAX_ATTEMPTS, MAX_BYTES, MediaFetcher, retry_at

log = logging.getLogger(__name__)
# Checked from the header, before decoding: more pixels than a phone camera's
# photo is a decompression bomb (a 152 KiB PNG of 6320×6320 took 500 MB to decode).
MAX_PIXELS = 24_000_000
KEEP_SIDE = 4096  # a JPEG is decoded (and kept) at most this wide or high
FORMATS = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png"),
           "WEBP": ("image/jpeg", ".jpg"), "GIF": ("image/png", ".png")}


class PhotoRejected(ValueError):
    """Not a photo we keep; `reason` is `not_image` or `too_big`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    mime_type: str
    suffix: str
    width: int
    height: int


def clean_image(data: bytes) -> CleanImage:
    """Decode, check and re-encode; raises PhotoRejected for anything else."""
    if len(data) > MAX_BYTES:
        raise PhotoRejected("too_big")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format or ""
                if kind not in FORMATS or probe.width * probe.height > MAX_PIXELS:
                    raise PhotoRejected("not_image")
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                if kind == "JPEG":  # decode at a reduced scale: far less memory and time
                    image.draft("RGB", (KEEP_SIDE, KEEP_SIDE))
                image.load()
                upright = ImageOps.exif_transpose(image) or image
                upright.thumbnail((KEEP_SIDE, KEEP_SIDE))  # staff need no 24-megapixel copy
                mime_type, suffix = FORMATS[kind]
                out = io.BytesIO()
                if suffix == ".png":
                    upright.save(out, "PNG", optimize=True)
                else:
                    upright.convert("RGB").save(out, "JPEG", quality=88)
                width, height = upright.size
    except PhotoRejected:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, OSError, SyntaxError, ValueError,
            EOFError) as exc:
        raise PhotoRejected("not_image") from exc
    return CleanImage(out.getvalue(), mime_type, suffix, width, height)


@dataclass(frozen=True)
class _Job:
    photo_id: int
    channel: str
    file_id: str | None
    url: str | None
    reference: str
    position: int


class PhotoFetcher(MediaFetcher[_Job]):
    """Fetches the complaints' photos, keeps clean copies."""

    def _claim(self, now: datetime) -> list[_Job]:
        """Take due photos for a while, so that a second worker leaves them alone."""
        if not self.sources:
            return []
        with self.db.session() as session:
            rows = session.execute(
                select(ComplaintPhoto, Complaint.reference)
                .join(Complaint, Complaint.id == ComplaintPhoto.complaint_id)
                .where(ComplaintPhoto.status == PhotoStatus.pending,
                       ComplaintPhoto.next_attempt_at <= now,
                       ComplaintPhoto.channel.in_(list(self.sources)))
                .order_by(ComplaintPhoto.id).limit(self.batch)).all()
            jobs = []
            for photo, reference in rows:
                photo.next_attempt_at = self.claim_until(now)
                jobs.append(_Job(photo.id, photo.channel, photo.file_id, photo.url, reference,
                                 photo.position))
            return jobs

    async def _fetch(self, job: _Job) -> None:
        try:
            data = await self.download(job.channel, job.file_id, job.url)
            image = await asyncio.to_thread(clean_image, data)
        except (PhotoRejected, MediaTooBig) as exc:
            reason = exc.reason if isinstance(exc, PhotoRejected) else "too_big"
            await asyncio.to_thread(self._refused, job, reason, str(exc))
            return
        except MediaRefused as exc:  # gone, or a URL we do not fetch: the citizen hears the same
            log.warning("photo %s of %s not fetched: %s", job.position, job.reference, exc)
            await asyncio.to_thread(self._refused, job, "unavailable", str(exc))
            return
        except Exception as exc:  # network, 5xx: try again later
            log.info("photo %s of %s: fetch failed, will retry: %s", job.position,
                     job.reference, exc)
            await asyncio.to_thread(self._retry_later, job, f"{type(exc).__name__}: {exc}")
            return
        await asyncio.to_thread(self._stored, job, image)

    def _stored(self, job: _Job, image: CleanImage) -> None:
        folder = self.media_dir / "complaints" / job.reference
        folder.mkdir(parents=True, exist_ok=True)
        path = (folder / f"{job.position}-{secrets.token_hex(8)}{image.suffix}").resolve()
        path.write_bytes(image.data)
        with self.db.session() as session:
            photo = session.get(ComplaintPhoto, job.photo_id)
            if photo is None:  # the complaint was erased meanwhile
                path.unlink(missing_ok=True)
                return
            photo.status = PhotoStatus.stored
            photo.path, photo.mime_type, photo.size = str(path), image.mime_type, len(image.data)
            photo.width, photo.height = image.width, image.height
            photo.attempts += 1
            photo.stored_at = utcnow()
            photo.error = None

    def _refused(self, job: _Job, reason: str, detail: str) -> None:
        with self.db.session() as session:
            photo = session.get(ComplaintPhoto, job.photo_id)
            if photo is None:
                return
            photo.status = PhotoStatus.rejected if reason != "unavailable" else PhotoStatus.failed
            photo.attempts += 1
            photo.error = f"{reason}: {detail}"[:300]
            self._tell(session, photo, reason)

    def _retry_later(self, job: _Job, detail: str) -> None:
        with self.db.session() as session:
            photo = session.get(ComplaintPhoto, job.photo_id)
            if photo is None:
                return
            photo.attempts += 1
            photo.error = detail[:300]
            if photo.attempts >= MAX_ATTEMPTS:
                photo.status = PhotoStatus.failed
                self._tell(session, photo, "unavailable")
            else:
                photo.next_attempt_at = retry_at(photo.attempts)

    def _tell(self, session: Session, photo: ComplaintPhoto, reason: str) -> None:
        """The citizen learns a photo was not kept; the complaint stands."""
        complaint = session.get(Complaint, photo.complaint_id)
        if complaint is None:
            return
        complaints.tell_about(session, self.profile, self.catalogs, complaint,
                              f"complaints.photo_not_kept.{reason}", now=utcnow(),
                              position=photo.position, max_mb=MAX_BYTES // (1024 * 1024),
                              dedupe_key=f"complaint-photo:{photo.id}")
