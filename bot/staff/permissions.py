"""Who may do what: SPEC §3.7's role × capability table, decided here and
nowhere else. Routes declare the capability they need through a dependency
(`bot.admin.deps.require`) and use-cases
scope their queries with `scoped`; they never look at roles themselves."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Select

from bot.models.staff import Role, StaffUser


class Capability(enum.StrEnum):
    reception = "reception"
    documents = "documents"
    complaints = "complaints"
    surveys = "surveys"
    notices = "notices"
    personal_data = "personal_data"
    citizens = "citizens"  # the citizen list: full sees it, read sees counts
    staff_admin = "staff_admin"  # staff accounts and the audit log
    reports = "reports"  # the monthly report for the mayor and the assembly (issue 18)
    # Registering a number for SMS at the counter or on the phone, and the list
    # of SMS subscribers with their phones (issue 19): the offices that meet
    # citizens (the info office, the mayor's office at the reception) and admin.
    sms = "sms"


class Access(enum.IntEnum):
    """Ordered: a higher level includes what the lower ones allow."""

    none = 0
    read = 1
    department = 2  # read and write, but only the officer's own department's items
    full = 3


_ = Access.none
R, D, F = Access.read, Access.department, Access.full

MATRIX: dict[Role, dict[Capability, Access]] = {
    Role.admin: dict.fromkeys(Capability, F),
    Role.mayor_office: {
        Capability.reception: F, Capability.documents: R, Capability.complaints: R,
        Capability.surveys: R, Capability.notices: R, Capability.personal_data: F,
        Capability.citizens: F, Capability.staff_admin: _, Capability.reports: R,
        Capability.sms: F,
    },
    Role.info_office: {
        Capability.reception: R, Capability.documents: F, Capability.complaints: F,
        Capability.surveys: F, Capability.notices: F, Capability.personal_data: F,
        Capability.citizens: F, Capability.staff_admin: _, Capability.reports: R,
        Capability.sms: F,
    },
    Role.department: {
        Capability.reception: _, Capability.documents: D, Capability.complaints: D,
        Capability.surveys: R, Capability.notices: R, Capability.personal_data: D,
        Capability.citizens: R, Capability.staff_admin: _, Capability.reports: _,
        Capability.sms: _,
    },
    Role.viewer: {
        Capability.reception: R, Capability.documents: R, Capability.complaints: R,
        Capability.surveys: R, Capability.notices: R, Capability.personal_data: _,
        Capability.citizens: R, Capability.staff_admin: _, Capability.reports: _,
        Capability.sms: _,
    },
}


def access(role: Role, capability: Capability) -> Access:
    return MATRIX[role][capability]


def can_read(role: Role, capability: Capability) -> bool:
    return access(role, capability) >= Access.read


def can_write(role: Role, capability: Capability) -> bool:
    return access(role, capability) >= Access.department


def department_scoped(role: Role, capability: Capability) -> bool:
    """True when the officer sees only their own department's items."""
    return access(role, capability) is Access.department


def scoped(stmt: Select[Any], staff: StaffUser, capability: Capability,
           department: Any) -> Select[Any]:
    """The query limited to the officer's own department where the role sees
    only that (`department` is the item's department column)."""
    if department_scoped(staff.role, capability):
        return stmt.where(department == staff.department)
    return stmt


def shows_personal(staff: StaffUser, *, own_items: bool = True) -> bool:
    """Whether citizens' names and phones are shown to this officer. Beside a
    capability's items (`own_items`), a department officer sees those of their
    own department's items — the only items they see; in the list of all
    citizens, only roles with full access do."""
    level = access(staff.role, Capability.personal_data)
    return level is Access.full or (own_items and level is Access.department)


def sees_citizen_list(staff: StaffUser) -> bool:
    """SPEC §3.7: admin, the mayor's office and the info office see the list of
    citizens; department officers and viewers see only how many match."""
    return access(staff.role, Capability.citizens) is Access.full
