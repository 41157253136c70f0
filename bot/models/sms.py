"""SMS: who agreed to get texts, and the keyword replies sent to strangers.

An SMS citizen is an ordinary `Citizen` with a `ChannelAccount` of channel
"sms" whose external_id and chat_id are the number in E.164; their topics are
the usual `Subscription` rows, so notices, reminders and notify.py treat SMS
like any channel. What SMS adds is the consent (who registered the number,
when, and whether it was stopped) and the limit on replies to unknown numbers.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, utcnow


class SmsConsentSource(enum.StrEnum):
    """How the number was registered: by an officer at the counter or on the
    phone, or by the citizen texting a start keyword."""

    counter = "counter"
    phone = "phone"
    keyword = "keyword"


class SmsSubscription(Base):
    """The consent of one SMS account.

    Lifecycle: active (`stopped_at` None) → stopped (the citizen texted STOP:
    `stopped_at` set and the account's `blocked_at` set, so the sender never
    texts the number again, not even rows queued before) → active again (a
    start keyword or an officer's new registration clears both and records a
    new `consented_at`, `source` and `registered_by`)."""

    __tablename__ = "sms_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_account.id", ondelete="CASCADE"), unique=True)
    source: Mapped[SmsConsentSource] = mapped_column(
        Enum(SmsConsentSource, native_enum=False, length=16))
    # The officer's username (counter/phone); None when the citizen texted a keyword.
    registered_by: Mapped[str | None] = mapped_column(String(64))
    consented_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None]


class SmsKeywordReply(Base):
    """One "here are the keywords" reply to a number on one Klokot day: the
    row is written with the reply, and a second text that day finds it and
    gets no answer (a stranger cannot make the bot text in a loop)."""

    __tablename__ = "sms_keyword_reply"
    __table_args__ = (UniqueConstraint("phone", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
