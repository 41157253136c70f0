"""The staff use-cases of complaints without HTTP: the box scoped to a
department officer's own complaints, senders only for roles that may see
them and never for an anonymous complaint (and only what was shown is
audited), a state change with its audit entry and the citizen told,
invalid input refused as `Invalid` and what the state does not allow as
`Conflict`, the filters checked against the profile, and the CSV without
personal columns for a viewer."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.i18n import Catalogs
from bot.models import Complaint, ComplaintStatus, OutboxMessage
from bot.profile import get_profile
from bot.refusals import Conflict, Invalid, NotFound
from bot.staff.complaints import actions, export, views
from bot.staff.complaints.views import ComplaintFilters
from bot.staff.query import PageWindow
from tests.factories import audit_log, load_staff, make_complaint, make_staff

PROFILE = get_profile()
CATALOGS = Catalogs(PROFILE.enabled_locales)
ANY = ComplaintFilters()


def row(db: Database, reference: str) -> Complaint:
    with db.read_session() as session:
        found = session.scalar(select(Complaint).where(Complaint.reference == reference))
        assert found is not None
        return found


def test_a_department_officer_sees_and_finds_only_their_own(db: Database) -> None:
    own = make_complaint(db)  # lighting → cadastre_urbanism
    other = make_complaint(db, category="water")  # → agriculture
    staff_id = make_staff(db, "dep1", "department", "cadastre_urbanism")
    with db.session() as session:
        staff = load_staff(session, staff_id)
        items, total = views.view_box(session, PROFILE, staff, ANY, PageWindow(), ip=None)
        assert [i.reference for i in items] == [own] and total == 1
        assert views.find_complaint(session, staff, own).reference == own
        with pytest.raises(NotFound):
            views.find_complaint(session, staff, other)
        with pytest.raises(NotFound):
            actions.note(session, staff, None, reference=other, text="probe")
    admin_id = make_staff(db, "admin1", "admin")
    with db.session() as session:
        items, total = views.view_box(session, PROFILE, load_staff(session, admin_id), ANY,
                                      PageWindow(), ip=None)
        assert {i.reference for i in items} == {own, other} and total == 2


def test_senders_only_where_allowed_and_never_for_the_anonymous(db: Database) -> None:
    known = make_complaint(db, full_name="Arta Krasniqi")
    hidden = make_complaint(db, anonymous=True, full_name="Zana Hoxha")
    info_id = make_staff(db, "info1", "info_office")
    viewer_id = make_staff(db, "viewer1", "viewer")
    with db.session() as session:
        items, _ = views.view_box(session, PROFILE, load_staff(session, info_id), ANY,
                                  PageWindow(), ip="10.0.0.1", via="staff page")
        senders = {i.reference: i.sender for i in items}
        sender = senders[known]
        assert sender is not None and sender.full_name == "Arta Krasniqi"
        assert senders[hidden] is None
        _, detail = views.view_complaint(session, load_staff(session, info_id), hidden, ip=None)
        assert detail.anonymous and detail.sender is None
        items, _ = views.view_box(session, PROFILE, load_staff(session, viewer_id), ANY,
                                  PageWindow(), ip=None)
        assert all(i.sender is None for i in items)
    # only the list that showed a sender is audited, and by reference only
    [shown] = audit_log(db, "complaints.")
    assert shown.action == "complaints.list" and shown.username == "info1"
    assert shown.detail == "staff page: 1 shown" and shown.ip == "10.0.0.1"
    assert shown.item_references == [known]


def test_a_state_change_tells_the_citizen_and_is_audited(db: Database) -> None:
    reference = make_complaint(db, language="en")
    staff_id = make_staff(db, "info2", "info_office")
    with db.session() as session:
        found = actions.transition(session, PROFILE, CATALOGS, load_staff(session, staff_id),
                                   "10.0.0.2", reference=reference, to=ComplaintStatus.resolved,
                                   text="The lamp\u0000 was replaced.", duplicate_of=None)
        assert found.status is ComplaintStatus.resolved and found.closed_at is not None
        assert views.next_states(found) == [ComplaintStatus.open]
    [entry] = audit_log(db, "complaints.")
    assert entry.action == "complaints.transition" and entry.object_id == reference
    assert entry.before and entry.before["status"] == "open"
    assert entry.after == {"status": "resolved", "department": "cadastre_urbanism",
                           "duplicate_of": None, "published": False,
                           "text": "The lamp was replaced."}
    with db.read_session() as session:
        [told] = session.scalars(select(OutboxMessage)).all()
        assert "The lamp was replaced." in told.body["text"] and reference in told.body["text"]


def test_invalid_input_is_invalid_and_the_state_a_conflict(db: Database) -> None:
    reference = make_complaint(db)
    staff_id = make_staff(db, "info3", "info_office")
    refusals: list[tuple[type[Exception], str, dict[str, object]]] = [
        (Invalid, "reason_required", {"to": ComplaintStatus.rejected, "text": "  "}),
        (Invalid, "original_required", {"to": ComplaintStatus.duplicate,
                                        "duplicate_of": reference}),
        (Conflict, "transition_not_allowed", {"to": ComplaintStatus.open}),
    ]
    for kind, code, change in refusals:
        with pytest.raises(kind) as refused, db.session() as session:
            actions.transition(session, PROFILE, CATALOGS, load_staff(session, staff_id), None,
                               reference=reference, **{"text": None, "duplicate_of": None,
                                                       **change})  # type: ignore[arg-type]
        assert refused.value.code == code  # type: ignore[attr-defined]
    with pytest.raises(Invalid) as unknown, db.session() as session:
        actions.update(session, PROFILE, CATALOGS, load_staff(session, staff_id), None,
                       reference=reference, department="nowhere")
    assert unknown.value.code == "unknown_department"
    with pytest.raises(Invalid) as half, db.session() as session:
        actions.update(session, PROFILE, CATALOGS, load_staff(session, staff_id), None,
                       reference=reference, published=True,
                       public=actions.PublicCopy(latitude=42.0))
    assert half.value.code == "invalid_location"
    with pytest.raises(Conflict) as unpublished, db.session() as session:
        actions.update(session, PROFILE, CATALOGS, load_staff(session, staff_id), None,
                       reference=reference, public=actions.PublicCopy(description="Edited"))
    assert unpublished.value.code == "not_published"
    found = row(db, reference)
    assert found.status is ComplaintStatus.open and not found.published
    assert found.department == "cadastre_urbanism" and audit_log(db, "complaints.") == []


def test_publishing_keeps_the_public_copy_and_audits_it(db: Database) -> None:
    reference = make_complaint(db, address="Main street 4")
    staff_id = make_staff(db, "info4", "info_office")
    with db.session() as session:
        staff = load_staff(session, staff_id)
        found = actions.update(session, PROFILE, CATALOGS, staff, None, reference=reference,
                               published=True)
        assert views.public_draft(found)["address"] == "Main street 4"
        actions.update(session, PROFILE, CATALOGS, staff, None, reference=reference,
                       public=actions.PublicCopy(description="A street light is out"))
    found = row(db, reference)
    assert found.published and found.public_description == "A street light is out"
    assert found.public_address == "Main street 4"  # not given: stays as it is public
    assert [e.action for e in audit_log(db, "complaints.")] == ["complaints.publish"] * 2


def test_filters_take_the_profiles_codes(db: Database) -> None:
    water = make_complaint(db, category="water", settlement="mogila")
    make_complaint(db)
    staff_id = make_staff(db, "info5", "info_office")
    form = ComplaintFilters.model_validate({"category": "water", "has_photo": "no"})
    assert form.has_photo is False
    with db.session() as session:
        staff = load_staff(session, staff_id)
        rows, total = views.list_complaints(session, PROFILE, staff, form, PageWindow())
        assert [c.reference for c in rows] == [water] and total == 1
        with pytest.raises(Invalid) as refused:
            views.list_complaints(session, PROFILE, staff,
                                  ComplaintFilters(settlement="atlantis"), PageWindow())
        assert refused.value.code == "invalid_filter"


def test_a_viewers_csv_has_no_personal_columns(db: Database) -> None:
    reference = make_complaint(db, full_name="Arta Krasniqi")
    viewer_id = make_staff(db, "viewer2", "viewer")
    with db.session() as session:
        body, name = export.export_csv(session, PROFILE, load_staff(session, viewer_id),
                                       ComplaintFilters(category="lighting"), None)
    assert name.startswith("complaints-") and name.endswith(".csv")
    [exported] = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert exported["reference"] == reference and "full_name" not in exported
    assert b"Arta" not in body
    [entry] = audit_log(db, "complaints.")
    assert entry.action == "complaints.export" and entry.detail
    assert "1 rows, personal=no" in entry.detail and "lighting" in entry.detail
