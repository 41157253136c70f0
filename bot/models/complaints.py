"""Complaints, suggestions and praise (SPEC §3.4): what citizens report from
the chat or civic-tech tools file through Open311, their photos, history and
the keys Open311 clients use."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base, utcnow


class ComplaintKind(enum.StrEnum):
    complaint = "complaint"
    suggestion = "suggestion"
    praise = "praise"


class ComplaintStatus(enum.StrEnum):
    open = "open"
    in_progress = "in_progress"
    resolved = "resolved"
    rejected = "rejected"
    duplicate = "duplicate"


CLOSED = frozenset({ComplaintStatus.resolved, ComplaintStatus.rejected,
                    ComplaintStatus.duplicate})


class Complaint(Base):
    """One report, whoever filed it.

    Lifecycle: `open` (the citizen confirmed, or an Open311 client posted) →
    `in_progress` (a department took it) → `resolved` | `rejected` (with a
    reason) | `duplicate` (pointing at the original). A closed complaint can be
    reopened to `open` by staff, or by the citizen answering "no" to the
    follow-up sent four weeks after `resolved`.

    `anonymous` means staff never see who sent it: the citizen and account
    links are kept only so that answers reach the chat, and no API, page,
    export or Open311 response shows them. `published` is the officer's
    approval for the public Open311 endpoints, which then show only the
    `public_*` copies of the description and location.
    """

    __tablename__ = "complaint"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[ComplaintKind] = mapped_column(
        Enum(ComplaintKind, native_enum=False, length=16), default=ComplaintKind.complaint)
    category: Mapped[str] = mapped_column(String(32), index=True)
    department: Mapped[str] = mapped_column(String(32), index=True)
    settlement: Mapped[str | None] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    anonymous: Mapped[bool] = mapped_column(default=False)
    # Who sent it: a chat citizen, or an Open311 client with optional contact.
    source: Mapped[str] = mapped_column(String(16), default="chat")
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizen.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_account.id", ondelete="SET NULL"))
    open311_client: Mapped[str | None] = mapped_column(String(64))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(64))

    status: Mapped[ComplaintStatus] = mapped_column(
        Enum(ComplaintStatus, native_enum=False, length=16), default=ComplaintStatus.open,
        index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    followup_sent_at: Mapped[datetime | None]
    followup_answered_at: Mapped[datetime | None]

    published: Mapped[bool] = mapped_column(default=False, index=True)
    published_at: Mapped[datetime | None]
    public_description: Mapped[str | None] = mapped_column(Text)
    public_latitude: Mapped[float | None] = mapped_column(Float)
    public_longitude: Mapped[float | None] = mapped_column(Float)
    public_address: Mapped[str | None] = mapped_column(String(300))

    events: Mapped[list[ComplaintEvent]] = relationship(
        back_populates="complaint", order_by="ComplaintEvent.id")
    photos: Mapped[list[ComplaintPhoto]] = relationship(
        back_populates="complaint", order_by="ComplaintPhoto.position")
    duplicate_of: Mapped[Complaint | None] = relationship(remote_side=[id])

    @property
    def closed(self) -> bool:
        return self.status in CLOSED


class ComplaintEvent(Base):
    """The complaint's history. `action` is one of `created`, `status`,
    `reply` (a message to the citizen), `note` (internal, never shown to the
    citizen), `assigned`, `published`, `unpublished`, `followup`."""

    __tablename__ = "complaint_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id", ondelete="CASCADE"),
                                              index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(64))  # a staff username, "citizen", "open311:…"
    action: Mapped[str] = mapped_column(String(16))
    status_from: Mapped[str | None] = mapped_column(String(16))
    status_to: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(default=False)

    complaint: Mapped[Complaint] = relationship(back_populates="events")


class PhotoStatus(enum.StrEnum):
    pending = "pending"
    stored = "stored"
    rejected = "rejected"
    failed = "failed"
    deleted = "deleted"


class ComplaintPhoto(Base):
    """A photo the citizen sent with a complaint.

    Lifecycle: `pending` (recorded with the platform's file id or URL when the
    complaint is confirmed) → `stored` (the worker downloaded it, checked it is
    an image of at most 10 MB, and saved a clean copy under MEDIA_DIR) |
    `rejected` (not an image, or too big) | `failed` (the platform kept
    refusing after every retry). A stored photo becomes `deleted` when the
    retention job removes its file, some time after the complaint closed.
    Whatever happens to a photo, the complaint stays.
    """

    __tablename__ = "complaint_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id", ondelete="CASCADE"),
                                              index=True)
    position: Mapped[int] = mapped_column(default=1)
    channel: Mapped[str] = mapped_column(String(16))
    file_id: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[PhotoStatus] = mapped_column(
        Enum(PhotoStatus, native_enum=False, length=16), default=PhotoStatus.pending, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(String(300))
    path: Mapped[str | None] = mapped_column(String(500))
    mime_type: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    width: Mapped[int | None]
    height: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[datetime | None]

    complaint: Mapped[Complaint] = relationship(back_populates="photos")


class Open311Key(Base):
    """An API key of an Open311 client (`klokot-bot open311 add-key NAME`).
    Only a hash is kept; the key is shown once when it is made."""

    __tablename__ = "open311_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
