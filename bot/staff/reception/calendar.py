"""Each officer's iCalendar feeds of the reception's bookings. Calendar apps
cannot send a bearer token, so a feed's secret URL is its only credential:
it is shown once, only its hash is kept, the officer may revoke it, and it
stops working when the account is disabled or loses the reception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from bot.i18n import Catalogs
from bot.models import Booking, BookingStatus, CalendarFeed
from bot.models.staff import StaffUser
from bot.profile import ABROAD, Profile
from bot.refusals import NotFound
from bot.staff import audit
from bot.staff.permissions import Capability, can_read, shows_personal
from bot.staff.reception.views import audit_shown
from bot.staff.security import new_token, token_hash


class FeedOut(BaseModel):
    id: int
    created_at: datetime
    revoked_at: datetime | None


class FeedCreated(FeedOut):
    url: str = Field(description="Subscribe to this in Outlook or Google Calendar; shown once")


def feed_url(public_url: str | None, base_url: str, token: str) -> str:
    """The feed's address: under the configured public URL, else the one asked."""
    base = (public_url or base_url).rstrip("/")
    return f"{base}/api/v1/reception/calendar/{token}.ics"


def create_feed(session: Session, staff: StaffUser, ip: str | None,
                now: datetime) -> tuple[CalendarFeed, str]:
    """A new secret feed URL's token for this officer; only its hash is kept."""
    token = new_token()
    feed = CalendarFeed(token_hash=token_hash(token), staff_id=staff.id, created_at=now)
    session.add(feed)
    session.flush()
    audit.record(session, staff, "reception.calendar.create", object_type="calendar_feed",
                 object_id=feed.id, after={"staff": staff.username}, ip=ip)
    return feed, token


def own_feeds(session: Session, staff: StaffUser) -> list[CalendarFeed]:
    return list(session.scalars(select(CalendarFeed).where(
        CalendarFeed.staff_id == staff.id, CalendarFeed.revoked_at.is_(None)
    ).order_by(CalendarFeed.id)))


def revoke_feed(session: Session, staff: StaffUser, ip: str | None, *, feed_id: int,
                now: datetime) -> CalendarFeed:
    """An officer revokes their own feeds (disabling an account ends its feeds too)."""
    feed = session.get(CalendarFeed, feed_id)
    if feed is None or feed.revoked_at is not None or feed.staff_id != staff.id:
        raise NotFound("not_found", f"no active calendar feed {feed_id} of yours")
    feed.revoked_at = now
    audit.record(session, staff, "reception.calendar.revoke", object_type="calendar_feed",
                 object_id=feed.id, before={"revoked": False}, after={"revoked": True}, ip=ip)
    return feed


def feed_for_token(session: Session, token: str) -> tuple[CalendarFeed, StaffUser]:
    """The active feed of this token and its owner; an unknown or revoked
    token, or an officer who lost access, finds nothing."""
    found = session.execute(
        select(CalendarFeed, StaffUser).join(StaffUser, StaffUser.id == CalendarFeed.staff_id)
        .where(CalendarFeed.token_hash == token_hash(token),
               CalendarFeed.revoked_at.is_(None), StaffUser.disabled_at.is_(None))
    ).one_or_none()
    if found is None or not can_read(found[1].role, Capability.reception):
        raise NotFound("not_found", "no such calendar feed (revoked, or never issued)")
    return found[0], found[1]


def settlement_label(profile: Profile, catalogs: Catalogs, locale: str,
                     code: str | None) -> str:
    if code == ABROAD:
        return catalogs.gettext(locale, "staff.abroad")
    found = profile.settlement(code or "")
    return found.label(locale) if found else "—"


def calendar_ics(session: Session, profile: Profile, catalogs: Catalogs, feed: CalendarFeed,
                 owner: StaffUser) -> bytes:
    """The active bookings as iCalendar events, times in UTC (every client
    shows them right in its own zone; the calendar names Europe/Belgrade as
    its zone). Names and topics only where the profile allows them to leave
    the municipality's systems and the officer may see them (then audited)."""
    locale = owner.language

    t = catalogs.translator(locale)
    personal = profile.reception.calendar_personal and shows_personal(owner)
    bookings = session.scalars(
        select(Booking).join(Booking.day).options(contains_eager(Booking.day))
        .where(Booking.status == BookingStatus.booked).order_by(Booking.starts_at, Booking.id)
    ).all()
    calendar = Calendar()
    calendar.add("prodid", f"-//{profile.municipality_name('en')}//Mayor's reception//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", t("staff.reception.calendar_name"))
    calendar.add("x-wr-timezone", profile.timezone)
    for booking in bookings:
        starts = booking.starts_at.astimezone(UTC)
        local = booking.starts_at.astimezone(profile.tz)
        settlement = settlement_label(profile, catalogs, locale, booking.settlement)
        event = Event()
        event.add("uid", f"{booking.reference}@{profile.code}.reception")
        event.add("dtstamp", (booking.moved_at or booking.created_at).astimezone(UTC))
        event.add("dtstart", starts)
        event.add("dtend", starts + timedelta(minutes=booking.day.slot_minutes))
        event.add("sequence", 1 if booking.moved_at else 0)
        event.add("status", "CONFIRMED")
        event.add("location", profile.reception.place_in(locale))
        when = f"{local:%Y-%m-%d %H:%M} ({profile.timezone})"
        if personal:
            event.add("summary", f"{booking.reference} · {booking.full_name or '—'} · "
                                 f"{settlement}")
            event.add("description", t("staff.reception.calendar_personal", when=when,
                                       settlement=settlement, topic=booking.topic))
        else:
            event.add("summary", f"{booking.reference} · {settlement}")
            event.add("description", t("staff.reception.calendar_plain", when=when,
                                       settlement=settlement))
        calendar.add_component(event)
    if personal:
        audit_shown(session, owner, "reception.export", [b.reference for b in bookings], None,
                    detail=f"calendar feed {feed.id}")
    return bytes(calendar.to_ical())
