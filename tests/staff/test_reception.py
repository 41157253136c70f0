"""The reception's staff use-cases without HTTP: who sees names (audited),
actions with their audit entries, refusals as `Invalid` or `Conflict`, the
CSV bytes and the calendar feeds."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.models import BookingStatus, OutboxMessage, ReceptionDay
from bot.models.staff import AuditEntry, Role, StaffUser
from bot.profile import Profile, get_profile
from bot.refusals import Conflict, Invalid, NotFound
from bot.staff.permissions import Access, Capability, access, can_read, shows_personal
from bot.staff.query import PageWindow
from bot.staff.reception import actions, calendar, export, views
from bot.staff.reception.views import BookingFilters
from tests.admin.test_reception_api import off_pattern, today
from tests.factories import make_booking, make_day, make_staff

PROFILE = get_profile()
CATALOGS = Catalogs(PROFILE.enabled_locales)
READERS = [role for role in Role if can_read(role, Capability.reception)]


# Days in the past or too far, today's slots: run again at night by `make test-night`.
pytestmark = pytest.mark.clock


def officers(db: Database, *roles: str) -> None:
    """An officer of each role, named after it."""
    for role in roles:
        make_staff(db, role, role, department="agriculture" if role == "department" else None)


def officer(session: Session, role: str) -> StaffUser:
    """The officer of this role, loaded in the session the use-case runs in."""
    return session.scalars(select(StaffUser).where(StaffUser.username == role)).one()


def audit_actions(db: Database) -> list[AuditEntry]:
    with db.read_session() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action.startswith("reception.")).order_by(AuditEntry.id)))


@pytest.mark.parametrize("role", READERS)
def test_the_personal_data_rule_is_the_old_one_for_every_reader(role: Role) -> None:
    """`shows_personal` replaced "full access to personal data" here: for each
    role that can read the reception (and so may own a calendar feed) they agree."""
    staff = StaffUser(username="x", role=role)
    assert shows_personal(staff) is (access(role, Capability.personal_data) is Access.full)


@pytest.mark.parametrize(("role", "sees"), [("mayor_office", True), ("info_office", True),
                                            ("viewer", False)])
def test_names_only_for_roles_that_may_see_them_and_then_audited(db: Database, role: str,
                                                                  sees: bool) -> None:
    reference = make_booking(db, day=off_pattern(5), full_name="Arta Krasniqi",
                             settlement="mogila")
    make_booking(db, day=off_pattern(5), slot_index=1, settlement="klokot")
    officers(db, role)
    with db.session() as session:
        staff = officer(session, role)
        items, total = views.shown_bookings(session, PROFILE, staff,
                                            BookingFilters(settlement="mogila"), PageWindow(),
                                            utcnow(), "10.0.0.1")
    assert total == 1 and [b.reference for b in items] == [reference]
    assert (items[0].full_name == "Arta Krasniqi") is sees
    entries = audit_actions(db)
    assert [(e.action, e.ip) for e in entries] == ([("reception.list", "10.0.0.1")]
                                                   if sees else [])


def test_an_unknown_settlement_is_invalid_not_an_empty_list(db: Database) -> None:
    with db.session() as session, pytest.raises(Invalid) as refused:
        views.list_bookings(session, PROFILE, BookingFilters(settlement="atlantis"),
                            PageWindow(), utcnow())
    assert refused.value.code == "invalid_filter"


def test_unknown_items_are_not_found(db: Database) -> None:
    with db.session() as session:
        with pytest.raises(NotFound):
            views.find_booking(session, "R-2031-9999")
        with pytest.raises(NotFound):
            views.day_detail(session, PROFILE, off_pattern(40), utcnow())


def test_closing_a_day_tells_the_citizens_and_writes_one_audit_entry(db: Database) -> None:
    day = off_pattern(12)
    first = make_booking(db, day=day, slot_index=0, language="en")
    second = make_booking(db, day=day, slot_index=3, language="sq")
    officers(db, "mayor_office")
    with db.session() as session:
        staff = officer(session, "mayor_office")
        row, cancelled = actions.close_day(session, PROFILE, CATALOGS, staff, "10.0.0.2",
                                           day=day, reason="  the mayor\x00 is away ",
                                           now=utcnow())
        assert row.closed and row.closed_reason == "the mayor is away"
        assert sorted(b.reference for b in cancelled) == sorted([first, second])
    (entry,) = audit_actions(db)
    assert (entry.action, entry.object_id, entry.ip) == ("reception.day.close",
                                                         day.isoformat(), "10.0.0.2")
    assert entry.before and entry.before["closed"] is False
    assert entry.after and sorted(entry.after["cancelled"]) == sorted([first, second])
    with db.read_session() as session:
        assert len(session.scalars(select(OutboxMessage)).all()) == 2


def test_invalid_input_is_invalid_and_the_state_of_a_day_is_a_conflict(db: Database) -> None:
    past = today() - timedelta(days=3)
    make_day(db, day=past)
    taken = off_pattern(6)
    make_day(db, day=taken)
    now = utcnow()
    officers(db, "admin")
    with db.session() as session:
        staff = officer(session, "admin")
        with pytest.raises(Invalid) as wrong:
            actions.create_day(session, PROFILE, staff, None, day=off_pattern(3),
                               start=actions.parse_hhmm("23:00"), slots=15, slot_minutes=20,
                               now=now)
        assert wrong.value.code == "day_too_long"
        with pytest.raises(Invalid) as in_past:
            actions.create_day(session, PROFILE, staff, None, day=date(2020, 1, 1), start=None,
                               slots=None, slot_minutes=None, now=now)
        assert in_past.value.code == "day_in_past"
        with pytest.raises(Conflict) as twice:
            actions.create_day(session, PROFILE, staff, None, day=taken, start=None,
                               slots=None, slot_minutes=None, now=now)
        assert twice.value.code == "day_exists"
        with pytest.raises(Conflict) as gone_by:
            actions.change_day(session, PROFILE, staff, None, day=past, start=None, slots=3,
                               slot_minutes=None, now=now)
        assert gone_by.value.code == "day_in_past" and not isinstance(gone_by.value, Invalid)
    assert audit_actions(db) == []


def test_marking_writes_before_and_after_and_a_repeat_is_a_conflict(db: Database) -> None:
    reference = make_booking(db, day=today(), slot_index=2)
    officers(db, "mayor_office")
    with db.session() as session:
        staff = officer(session, "mayor_office")
        booking = actions.mark(session, PROFILE, CATALOGS, staff, None, reference=reference,
                               status="attended", message="ignored", now=utcnow())
        assert booking.status is BookingStatus.attended and booking.marked_by == "mayor_office"
        with pytest.raises(Conflict) as again:
            actions.mark(session, PROFILE, CATALOGS, staff, None, reference=reference,
                         status="attended", message=None, now=utcnow())
        assert again.value.code == "unchanged"
        with pytest.raises(Invalid) as not_a_mark:
            actions.mark(session, PROFILE, CATALOGS, staff, None, reference=reference,
                         status="booked", message=None, now=utcnow())
        assert not_a_mark.value.code == "invalid_status"
    (entry,) = audit_actions(db)
    assert (entry.before, entry.after) == ({"status": "booked"}, {"status": "attended"})


def test_the_csv_drops_personal_columns_for_a_viewer_and_records_the_filters(
        db: Database) -> None:
    make_booking(db, day=off_pattern(4), full_name="=Arta", settlement="vrbovac")
    filters = BookingFilters(status=BookingStatus.booked, settlement="vrbovac")
    officers(db, "admin", "viewer")
    with db.session() as session:
        admin = export.export_bookings(session, PROFILE, officer(session, "admin"),
                                       filters, None, utcnow())
        viewer = export.export_bookings(session, PROFILE, officer(session, "viewer"),
                                        filters, None, utcnow())
    assert admin.startswith(b"\xef\xbb\xbf") and "'=Arta" in admin.decode("utf-8-sig")
    assert b"full_name" not in viewer and b"Arta" not in viewer
    assert len(viewer.decode("utf-8-sig").splitlines()) == 2
    details = [e.detail or "" for e in audit_actions(db)]
    assert "personal=yes" in details[0] and "personal=no" in details[1]
    assert "'settlement': 'vrbovac'" in details[1] and "BookingStatus.booked" in details[1]


def with_personal_calendar(profile: Profile) -> Profile:
    return dataclasses.replace(profile, reception=dataclasses.replace(
        profile.reception, calendar_personal=True))


def test_a_calendar_feed_shows_names_only_to_an_owner_who_may_see_them(db: Database) -> None:
    winter = date(today().year + 1, 1, 13)
    make_booking(db, day=winter, full_name="Arta Krasniqi", settlement="vrbovac")
    profile = with_personal_calendar(PROFILE)
    officers(db, "mayor_office", "viewer")
    with db.session() as session:
        mayor, viewer = officer(session, "mayor_office"), officer(session, "viewer")
        _, mayor_token = calendar.create_feed(session, mayor, None, utcnow())
        _, viewer_token = calendar.create_feed(session, viewer, None, utcnow())
        feed, owner = calendar.feed_for_token(session, mayor_token)
        named = calendar.calendar_ics(session, profile, CATALOGS, feed, owner).decode()
        feed, owner = calendar.feed_for_token(session, viewer_token)
        plain = calendar.calendar_ics(session, profile, CATALOGS, feed, owner).decode()
    assert "Arta Krasniqi" in named and "Arta" not in plain
    assert f"DTSTART:{winter:%Y%m%d}T080000Z" in plain  # 09:00 in Belgrade, in winter
    exports = [e for e in audit_actions(db) if e.action == "reception.export"]
    assert len(exports) == 1 and exports[0].username == "mayor_office"


def test_a_feed_finds_nothing_for_an_officer_without_the_reception(db: Database) -> None:
    officers(db, "department", "mayor_office")
    with db.session() as session:
        officer_without = officer(session, "department")
        _, token = calendar.create_feed(session, officer_without, None, utcnow())
        with pytest.raises(NotFound):
            calendar.feed_for_token(session, token)
        with pytest.raises(NotFound):
            calendar.feed_for_token(session, "x" * 43)
        mayor = officer(session, "mayor_office")
        mine, _ = calendar.create_feed(session, mayor, None, utcnow())
        with pytest.raises(NotFound):  # not theirs
            calendar.revoke_feed(session, officer_without, None, feed_id=mine.id,
                                 now=utcnow())
    assert calendar.feed_url(None, "http://host/", "t") == (
        "http://host/api/v1/reception/calendar/t.ics")
    assert calendar.feed_url("https://bot.example", "http://host/", "t").startswith(
        "https://bot.example/api/")


def test_the_week_shows_each_slot_with_its_booking(db: Database) -> None:
    day = off_pattern(3)
    reference = make_booking(db, day=day, slot_index=2, full_name="Arta Krasniqi")
    officers(db, "viewer")
    with db.session() as session:
        staff = officer(session, "viewer")
        week, personal = views.week(session, PROFILE, staff, day, day, utcnow(), None)
        assert session.scalar(select(ReceptionDay.slots).where(ReceptionDay.day == day)) == 15
    assert not personal
    (only,) = week
    assert [s.time for s in only.slots][:3] == ["09:00", "09:20", "09:40"]
    booked = only.slots[2].booking
    assert booked is not None and booked.reference == reference and booked.full_name is None
    assert audit_actions(db) == []
