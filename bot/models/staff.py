"""Staff accounts, their sessions and API tokens, and the audit log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base, utcnow


class Role(enum.StrEnum):
    admin = "admin"
    mayor_office = "mayor_office"
    info_office = "info_office"
    department = "department"
    viewer = "viewer"


class StaffUser(Base):
    """An officer. Lifecycle: created from the command line (the first admin
    only there) → active → `disabled_at` set (every token stops working at
    once; can be enabled again by an admin). Failed sign-ins are counted in
    `SignInCounter`, by name and address, not here: a stranger's guesses must
    not lock the officer out of their own office. `chat_account_id` is the
    officer's own Telegram or Viber account, linked with a one-time code,
    for alerts."""

    __tablename__ = "staff_user"
    # Never reused ids: audit entries and tokens name the officer by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    department: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(16), default="en")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    chat_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_account.id", ondelete="SET NULL"), index=True
    )
    link_code_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    link_code_expires_at: Mapped[datetime | None]

    tokens: Mapped[list[StaffToken]] = relationship(back_populates="staff")

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class StaffToken(Base):
    """A bearer token (API) or a browser session. Only a hash is stored.
    Lifecycle: issued → used until `expires_at` → or `revoked_at` (logout,
    password change, account disabled)."""

    __tablename__ = "staff_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"),
                                          index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "api" | "session"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    staff: Mapped[StaffUser] = relationship(back_populates="tokens")


class SignInCounter(Base):
    """Sign-in attempts counted in the database, so the limits hold across
    web workers and restarts. Keyed by the name typed, never by an account,
    so an unknown username is counted and refused exactly like a real one.
    Three kinds:

    - `address` (username ""): every attempt from a client address in a
      window of `window_start` + LOGIN_ADDRESS_WINDOW_MINUTES; past the limit
      that address is refused whatever name it tries. A success gives its
      attempt back.
    - `pair` (a name and an address): consecutive wrong passwords; at the
      limit the pair is locked (`locked_until`), after which one wrong
      password locks it again. A success clears it. `window_start` is the
      last attempt.
    - `account` (address ""): wrong passwords for a name from every address
      in a window (LOGIN_ACCOUNT_WINDOW_MINUTES), the ceiling on a guess
      spread over many addresses. A success gives its attempt back.

    Lifecycle: created by an attempt → counted up by one atomic upsert per
    attempt → cleared by a success (pair), by an admin's enable or a new
    password (pair and account), or pruned a day after its last use."""

    __tablename__ = "sign_in_counter"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int]
    window_start: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class AuditEntry(Base):
    """Who did what to which item, when: every staff write (with before and
    after), every export and every view of a citizen's personal data (with
    the references of every item shown), every refused request of a
    signed-in officer (`refused`), and logins (failed ones and lock-outs
    too). Never updated or deleted."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"), index=True
    )
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48), index=True)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
    # Every item a view or an export showed, by reference: the complete list
    # (a data-protection officer asks "who saw this complaint?").
    item_references: Mapped[list[str] | None] = mapped_column(JSON)
