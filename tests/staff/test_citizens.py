"""The citizens list as a staff use-case: filters, and who sees names (audited)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.models.staff import AuditEntry, StaffUser
from bot.profile import get_profile
from bot.refusals import Invalid
from bot.staff import citizens
from bot.staff.citizens import CitizenFilters
from bot.staff.query import PageWindow
from tests.factories import make_citizen, make_staff


def officer(db: Database, role: str) -> StaffUser:
    make_staff(db, role, role, department="agriculture" if role == "department" else None)
    with db.read_session() as session:
        found = session.scalars(select(StaffUser).where(StaffUser.username == role)).one()
        session.expunge(found)
        return found


@pytest.mark.parametrize(("role", "sees"), [("admin", True), ("department", False),
                                            ("viewer", False)])
def test_names_only_for_full_access_and_then_audited(db: Database, role: str,
                                                     sees: bool) -> None:
    staff = officer(db, role)
    make_citizen(db, external_id="1", settlement="mogila")
    make_citizen(db, external_id="2", settlement="klokot")
    with db.session() as session:
        rows, total = citizens.list_citizens(session, get_profile(),
                                             CitizenFilters(settlement="mogila"), PageWindow())
        assert total == 1
        personal = citizens.audit_shown(session, staff, rows, "10.0.0.1")
        shown = [citizens.citizen_out(c, personal) for c in rows]
    assert (shown[0].full_name is not None) is sees
    with db.read_session() as session:
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "citizen.list")).all()
    assert len(entries) == (1 if sees else 0)


def test_an_unknown_settlement_is_invalid_not_an_empty_list(db: Database) -> None:
    with db.session() as session, pytest.raises(Invalid) as refused:
        citizens.list_citizens(session, get_profile(), CitizenFilters(settlement="atlantis"),
                               PageWindow())
    assert refused.value.code == "invalid_filter"


@pytest.mark.parametrize(("role", "lists"), [("admin", True), ("mayor_office", True),
                                             ("info_office", True), ("department", False),
                                             ("viewer", False)])
def test_the_list_is_for_the_roles_the_table_names_and_counts_for_all(
        db: Database, role: str, lists: bool) -> None:
    """A viewer got every citizen's settlement, language, apps and times
    (security review, item 8); SPEC §3.7 gives them counts."""
    from bot.refusals import Forbidden

    staff = officer(db, role)
    make_citizen(db, external_id="1", settlement="mogila")
    with db.session() as session:
        assert citizens.count_citizens(session, get_profile(),
                                       CitizenFilters(settlement="mogila")) == 1
        if lists:
            citizens.check_list_allowed(staff)
        else:
            with pytest.raises(Forbidden) as refused:
                citizens.check_list_allowed(staff)
            assert refused.value.code == "counts_only"
