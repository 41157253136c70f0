"""Complaint photos: only real pictures up to 10 MB are kept, re-encoded
without the phone's EXIF; a failed download is retried, and whatever
happens to a photo, the complaint stays and the citizen is told."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from bot.channels.base import MediaRefused, MediaTooBig
from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.models import Complaint, ComplaintPhoto, OutboxMessage, PhotoStatus
from bot.profile import get_profile
from bot.services.photos import MAX_ATTEMPTS, MAX_BYTES, PhotoFetcher, PhotoRejected, clean_image
from tests.factories import jpeg_bytes, make_complaint

PROFILE = get_profile()
T = Catalogs()


def test_a_clean_copy_drops_the_gps_position() -> None:
    original = jpeg_bytes(exif_gps=True)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)
    cleaned = clean_image(original)
    kept = Image.open(io.BytesIO(cleaned.data))
    assert kept.format == "JPEG" and (cleaned.width, cleaned.height) == (64, 48)
    assert not kept.getexif().get_ifd(0x8825) and b"PhoneMaker" not in cleaned.data


def test_png_stays_png() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (20, 10), (0, 0, 255, 128)).save(buffer, "PNG")
    cleaned = clean_image(buffer.getvalue())
    assert cleaned.mime_type == "image/png" and cleaned.suffix == ".png"


@pytest.mark.parametrize("data", [
    b"%PDF-1.4\n%%EOF\n",
    b"GIF89a not really",
    b"\xff\xd8\xff\xe0 truncated jpeg",
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    b"",
])
def test_what_is_not_a_picture_is_rejected(data: bytes) -> None:
    with pytest.raises(PhotoRejected) as refused:
        clean_image(data)
    assert refused.value.reason == "not_image"


def test_over_ten_megabytes_is_rejected() -> None:
    with pytest.raises(PhotoRejected) as refused:
        clean_image(jpeg_bytes() + b"\0" * MAX_BYTES)
    assert refused.value.reason == "too_big"


def test_a_decompression_bomb_is_rejected() -> None:
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buffer, "PNG")  # 64 megapixels in a few kilobytes
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(PhotoRejected):
        clean_image(buffer.getvalue())


def test_an_image_of_more_pixels_than_a_phone_photo_is_refused_before_decoding() -> None:
    """A 6320×6320 PNG of 152 KiB took 1.8 s and 500 MB to decode (security
    review, item 11): it is refused from its header."""
    buffer = io.BytesIO()
    Image.new("RGB", (6320, 6320), (90, 90, 90)).save(buffer, "PNG")
    assert len(buffer.getvalue()) < 1_000_000
    with pytest.raises(PhotoRejected):
        clean_image(buffer.getvalue())


def test_a_large_camera_jpeg_is_kept_smaller() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (6000, 4000), (135, 170, 200)).save(buffer, "JPEG", quality=70)
    kept = clean_image(buffer.getvalue())
    assert kept.mime_type == "image/jpeg" and max(kept.width, kept.height) <= 4096


class Source:
    """A platform whose answers the test scripts: bytes, or an exception."""

    def __init__(self, *answers: bytes | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str | None, str | None]] = []

    async def fetch_media(self, file_id: str | None, url: str | None,
                          max_bytes: int) -> bytes:
        self.asked.append((file_id, url))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def with_pending_photo(db: Database, language: str = "en") -> str:
    reference = make_complaint(db, language=language)
    with db.session() as session:
        complaint = session.scalars(select(Complaint).where(
            Complaint.reference == reference)).one()
        session.add(ComplaintPhoto(complaint_id=complaint.id, position=1, channel="telegram",
                                   file_id="AgAC-photo-1"))
    return reference


def fetcher(db: Database, source: Source, media_dir: Path) -> PhotoFetcher:
    return PhotoFetcher(db, {"telegram": source}, media_dir, PROFILE, T)


def photo(db: Database) -> ComplaintPhoto:
    with db.read_session() as session:
        row = session.scalars(select(ComplaintPhoto)).one()
        session.expunge(row)
        return row


def told(db: Database) -> list[str]:
    with db.read_session() as session:
        return [row.body["text"] for row in session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id))]


def test_a_failed_download_is_retried_until_it_works(db: Database, tmp_path: Path) -> None:
    reference = with_pending_photo(db)
    source = Source(OSError("connection reset"), TimeoutError("slow"), jpeg_bytes())
    work = fetcher(db, source, tmp_path)
    assert asyncio.run(work.run_once()) == 1
    assert photo(db).status is PhotoStatus.pending and photo(db).attempts == 1
    assert asyncio.run(work.run_once()) == 0  # not before its backoff
    later = utcnow() + timedelta(hours=1)
    asyncio.run(work.run_once(later))
    asyncio.run(work.run_once(later + timedelta(hours=1)))
    stored = photo(db)
    assert stored.status is PhotoStatus.stored and stored.attempts == 3
    assert Path(stored.path or "").parent == (tmp_path / "complaints" / reference).resolve()
    assert source.asked == [("AgAC-photo-1", None)] * 3
    assert not any("Photo 1" in text for text in told(db))


def test_after_every_retry_failed_the_citizen_is_told_and_the_complaint_stays(
        db: Database, tmp_path: Path) -> None:
    reference = with_pending_photo(db, language="sq")
    work = fetcher(db, Source(*[OSError("down")] * MAX_ATTEMPTS), tmp_path)
    when = utcnow()
    for _ in range(MAX_ATTEMPTS):
        when += timedelta(days=1)
        asyncio.run(work.run_once(when))
    assert photo(db).status is PhotoStatus.failed
    expected = T.gettext("sq", "complaints.photo_not_kept.unavailable", reference=reference,
                         position=1, max_mb=10)
    assert told(db).count(expected) == 1
    with db.read_session() as session:
        assert session.scalars(select(Complaint)).one().reference == reference


@pytest.mark.parametrize(("answer", "status", "reason"), [
    (b"this is a text file, not a photo", PhotoStatus.rejected, "not_image"),
    (MediaTooBig("12 MB"), PhotoStatus.rejected, "too_big"),
    (MediaRefused("Bad Request: wrong file_id"), PhotoStatus.failed, "unavailable"),
])
def test_a_photo_that_cannot_be_kept_is_explained_once(
        db: Database, tmp_path: Path, answer: bytes | Exception, status: PhotoStatus,
        reason: str) -> None:
    reference = with_pending_photo(db)
    source = Source(answer)
    asyncio.run(fetcher(db, source, tmp_path).run_once())
    assert photo(db).status is status and len(source.asked) == 1
    expected = T.gettext("en", f"complaints.photo_not_kept.{reason}", reference=reference,
                         position=1, max_mb=10)
    assert told(db).count(expected) == 1
    assert not list(tmp_path.rglob("*.jpg"))


def test_photos_of_channels_this_process_cannot_reach_wait(db: Database,
                                                           tmp_path: Path) -> None:
    with_pending_photo(db)
    work = PhotoFetcher(db, {"viber": Source(jpeg_bytes())}, tmp_path, PROFILE, T)
    assert asyncio.run(work.run_once()) == 0
    assert photo(db).status is PhotoStatus.pending


class Hanging(Source):
    """A platform whose download never ends (Telegram's file server, say)."""

    async def fetch_media(self, file_id: str | None, url: str | None,
                          max_bytes: int) -> bytes:
        self.asked.append((file_id, url))
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_a_download_that_never_ends_is_cut_at_its_deadline_and_tried_again(
        db: Database, tmp_path: Path) -> None:
    """#13, item 5: every source gets the same overall deadline."""
    with_pending_photo(db)
    source = Hanging()
    work = PhotoFetcher(db, {"telegram": source}, tmp_path, PROFILE, T, deadline=0.2)
    assert asyncio.run(asyncio.wait_for(work.run_once(), 20)) == 1
    cut = photo(db)
    assert cut.status is PhotoStatus.pending and cut.attempts == 1
    assert "deadline" in (cut.error or "") and cut.next_attempt_at > utcnow()
    assert len(source.asked) == 1 and not told(db)
