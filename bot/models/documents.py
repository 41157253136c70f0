"""Requests for access to public documents (Law No. 06/L-081)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base, utcnow


class DocumentStatus(enum.StrEnum):
    received = "received"
    in_progress = "in_progress"
    extended = "extended"
    forwarded = "forwarded"
    granted = "granted"
    partially_granted = "partially_granted"
    refused = "refused"
    withdrawn = "withdrawn"


DECIDED = frozenset({DocumentStatus.forwarded, DocumentStatus.granted,
                     DocumentStatus.partially_granted, DocumentStatus.refused,
                     DocumentStatus.withdrawn})


class DocumentForm(enum.StrEnum):
    electronic = "electronic"
    paper = "paper"
    inspection = "inspection"


class DocumentRequest(Base):
    """A citizen's request for a public document.

    Lifecycle (in the spirit of Alaveteli): `received` (registered when the
    citizen confirms; the legal clock starts) → `in_progress` → `granted` |
    `partially_granted` | `refused` (with a reason and the appeal route);
    `extended` once, by at most 15 days, with a reason; `forwarded` to the
    institution that holds the document; `withdrawn` by the citizen. Overdue is
    not a state: it is `due_at` passed while undecided (see services.deadlines).

    Who works on it: `department` is only the citizen's guess. The info office
    forwards the request within the municipality to a department
    (`forwarded_department`, a profile code; no change of state, the request
    stays the municipality's to decide) — only that department's officers see
    and act on it. `forwarded` with `forwarded_to` (free text) is the law's
    forwarding to another institution.
    """

    __tablename__ = "document_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizen.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_account.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(String(32), index=True)
    form: Mapped[DocumentForm] = mapped_column(Enum(DocumentForm, native_enum=False,
                                                    length=16))
    life_or_liberty: Mapped[bool] = mapped_column(default=False)
    full_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[DocumentStatus] = mapped_column(
        Enum(DocumentStatus, native_enum=False, length=24), default=DocumentStatus.received,
        index=True)
    registered_at: Mapped[datetime]
    due_at: Mapped[datetime] = mapped_column(index=True)
    extended: Mapped[bool] = mapped_column(default=False)
    forwarded_to: Mapped[str | None] = mapped_column(String(300))
    forwarded_department: Mapped[str | None] = mapped_column(String(32), index=True)
    decided_at: Mapped[datetime | None]
    overdue_notified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    events: Mapped[list[DocumentEvent]] = relationship(
        back_populates="request", order_by="DocumentEvent.id")
    files: Mapped[list[DocumentFile]] = relationship(back_populates="request",
                                                     order_by="DocumentFile.id")

    @property
    def decided(self) -> bool:
        return self.status in DECIDED


class DocumentEvent(Base):
    """The request's history: every state change (with the reason sent to the
    citizen) and staff's internal notes (`internal`, never shown to the citizen)."""

    __tablename__ = "document_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("document_request.id",
                                                       ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(64))  # a staff username, "citizen" or "system"
    status_from: Mapped[str | None] = mapped_column(String(24))
    status_to: Mapped[str | None] = mapped_column(String(24))
    text: Mapped[str | None] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(default=False)

    request: Mapped[DocumentRequest] = relationship(back_populates="events")


class DocumentFile(Base):
    """A document staff uploaded for the citizen; delivered through the bot."""

    __tablename__ = "document_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("document_request.id",
                                                       ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(500))
    file_name: Mapped[str] = mapped_column(String(200))
    mime_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    request: Mapped[DocumentRequest] = relationship(back_populates="files")
