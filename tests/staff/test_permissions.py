"""SPEC §3.7's table of who may do what, and the one personal-data rule."""

from __future__ import annotations

import pytest

from bot.db import Database
from bot.models.staff import Role, StaffUser
from bot.refusals import Invalid
from bot.staff.permissions import (
    Access,
    Capability,
    access,
    department_scoped,
    shows_personal,
)
from tests.factories import make_staff

# SPEC §3.7, transcribed: ✓ full, D own department, R read only, — none.
SPEC_TABLE = {
    "reception":     {"admin": "✓", "mayor_office": "✓", "info_office": "R", "department": "—", "viewer": "R"},  # noqa: E501
    "documents":     {"admin": "✓", "mayor_office": "R", "info_office": "✓", "department": "D", "viewer": "R"},  # noqa: E501
    "complaints":    {"admin": "✓", "mayor_office": "R", "info_office": "✓", "department": "D", "viewer": "R"},  # noqa: E501
    "surveys":       {"admin": "✓", "mayor_office": "R", "info_office": "✓", "department": "R", "viewer": "R"},  # noqa: E501
    "notices":       {"admin": "✓", "mayor_office": "R", "info_office": "✓", "department": "R", "viewer": "R"},  # noqa: E501
    "personal_data": {"admin": "✓", "mayor_office": "✓", "info_office": "✓", "department": "D", "viewer": "—"},  # noqa: E501
    # the citizen list: ✓ sees it, R (SPEC's "counts") sees how many match
    "citizens":      {"admin": "✓", "mayor_office": "✓", "info_office": "✓", "department": "R", "viewer": "R"},  # noqa: E501
    "staff_admin":   {"admin": "✓", "mayor_office": "—", "info_office": "—", "department": "—", "viewer": "—"},  # noqa: E501
}
SYMBOL = {"✓": Access.full, "D": Access.department, "R": Access.read, "—": Access.none}


@pytest.mark.parametrize("capability", list(SPEC_TABLE))
def test_matrix_is_the_spec_table(capability: str) -> None:
    for role, symbol in SPEC_TABLE[capability].items():
        assert access(Role(role), Capability(capability)) is SYMBOL[symbol], (role, capability)


def test_department_officers_are_scoped_to_their_department() -> None:
    assert department_scoped(Role.department, Capability.complaints)
    assert department_scoped(Role.department, Capability.documents)
    assert not department_scoped(Role.info_office, Capability.complaints)
    assert not department_scoped(Role.department, Capability.surveys)  # read-only there


def test_a_department_officer_needs_a_known_department(db: Database) -> None:
    with pytest.raises(Invalid, match="department"):
        make_staff(db, "dep", "department")
    with pytest.raises(Invalid, match="department"):
        make_staff(db, "dep", "department", department="space_program")
    with pytest.raises(Invalid, match="department"):
        make_staff(db, "adm", "admin", department="agriculture")




@pytest.mark.parametrize(("role", "beside_items", "in_citizen_list"), [
    ("admin", True, True), ("mayor_office", True, True), ("info_office", True, True),
    ("department", True, False), ("viewer", False, False)])
def test_who_sees_names_and_phones(role: str, beside_items: bool, in_citizen_list: bool) -> None:
    """Department officers see the senders of their own department's items, never the
    list of all citizens; viewers see no personal data anywhere."""
    staff = StaffUser(username=role, password_hash="-", role=Role(role),
                      department="agriculture" if role == "department" else None)
    assert shows_personal(staff) is beside_items
    assert shows_personal(staff, own_items=False) is in_citizen_list
