"""What every staff page shares: the templates, the signed-in officer as a
page dependency (to the login page when signed out), the capability check,
CSRF, the officer's language and time zone in `render`, settlement names and
the pager's links."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from bot.admin.common import Problem
from bot.admin.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    RuntimeDep,
    SessionDep,
    require,
    session_limits,
)
from bot.i18n import LANGUAGE_NAMES, format_date
from bot.models.staff import Role, StaffUser
from bot.profile import ABROAD, Profile
from bot.refusals import Invalid
from bot.runtime import Runtime
from bot.staff import accounts
from bot.staff.permissions import Capability, can_read
from bot.staff.query import form_filters
from bot.staff.security import csrf_token, csrf_valid

F = TypeVar("F", bound=BaseModel)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STAFF_LOCALES = ("en", "sr_Latn", "sr_Cyrl", "sq")
# The capabilities with pages of their own, in the menu's order.
SECTIONS = [
    ("reception", Capability.reception, "staff.nav.reception"),
    ("documents", Capability.documents, "staff.nav.documents"),
    ("complaints", Capability.complaints, "staff.nav.complaints"),
    ("surveys", Capability.surveys, "staff.nav.surveys"),
    ("notices", Capability.notices, "staff.nav.notices"),
    ("sms", Capability.sms, "staff.nav.sms"),
]


class LoginRequired(Exception):
    """Raised by page dependencies; answered with a redirect to the login page."""


@dataclass(frozen=True)
class StaffView:
    """What a page shows of the officer; safe to use after the request's
    transaction ended (an error page is rendered after a rollback)."""

    username: str
    full_name: str | None
    language: str
    role: Role
    department: str | None
    chat_account_id: int | None

    @classmethod
    def of(cls, staff: StaffUser) -> StaffView:
        return cls(staff.username, staff.full_name, staff.language, staff.role,
                   staff.department, staff.chat_account_id)


def page_staff(request: Request, session: SessionDep, runtime: RuntimeDep) -> StaffUser:
    token = request.cookies.get(SESSION_COOKIE)
    found = accounts.staff_for_token(session, token, **session_limits(runtime)) if token else None
    if found is None:
        raise LoginRequired
    staff, request.state.token = found
    request.state.session_token = token  # what the forms' CSRF tokens are bound to
    request.state.staff_view = StaffView.of(staff)
    return staff


PageStaff = Annotated[StaffUser, Depends(page_staff)]


def page_role(capability: Capability, *, write: bool = False) -> Callable[..., StaffUser]:
    """The dependency of a capability's pages: signed in (else to the login
    page) and allowed to read it — or to change it, with `write`."""
    def allowed(staff: PageStaff) -> StaffUser:
        return require(capability, write=write)(staff)

    return allowed


def settlement_labels(runtime: Runtime, locale: str) -> dict[str, str]:
    """The profile's settlements and "abroad", named in the officer's language."""
    labels = {s.code: s.label(locale) for s in runtime.profile.settlements}
    labels[ABROAD] = runtime.catalogs.gettext(locale, "staff.abroad")
    return labels


def profile_labels(runtime: Runtime, locale: str) -> dict[str, Any]:
    """The profile's codes named in the officer's language, for the templates:
    departments, complaint categories, notice topics, settlements (and
    "abroad"), and the enabled locales."""
    profile = runtime.profile
    return {"departments": {d.code: d.label(locale) for d in profile.departments},
            "categories": {c.code: c.label(locale) for c in profile.complaint_categories},
            "topics": {t.code: t.label(locale) for t in profile.notice_topics},
            "settlements": settlement_labels(runtime, locale),
            "locales": list(profile.enabled_locales)}


def page_filters(model: type[F], values: Mapping[str, object], profile: Profile,
                 check: Callable[[Profile, F], None], *, message: str,
                 default: F | None = None) -> tuple[F, str | None]:
    """A list page's filters: the capability's filter model (the one the API
    takes) from the form, an empty field meaning "any". A value not understood
    shows the list unfiltered (`default`) with `message`, the page's "bad
    filter" text."""
    try:
        return form_filters(model, values, profile, check), None
    except Invalid:
        return (default if default is not None else model()), message


def pager_links(request: Request, offset: int, limit: int, total: int) -> dict[str, Any]:
    """`prev_link` and `next_link` of a list page (None at either end),
    keeping the page's other query parameters (its filters)."""
    query = {k: v for k, v in request.query_params.items() if k not in {"offset", "done"}}

    def link(to: int) -> str:
        return "?" + urlencode({**query, "offset": to})

    return {"prev_link": link(max(0, offset - limit)) if offset else None,
            "next_link": link(offset + limit) if offset + limit < total else None}


def csrf_binding(request: Request) -> str | None:
    """What this browser's form tokens are bound to: its signed-in session
    (the cookie `page_staff` accepted), so a token from one officer's session
    is refused in another's and a new one comes with every sign-in; before
    signing in, the sign-in form's own cookie (a pre-session seed)."""
    session_token = getattr(request.state, "session_token", None)
    if session_token:
        return f"session:{session_token}"
    seed = request.cookies.get(CSRF_COOKIE)
    return f"login:{seed}" if seed else None


def check_csrf(request: Request, runtime: Runtime, given: str | None) -> None:
    if not csrf_valid(runtime.settings.resolved_secret_key(), csrf_binding(request), given):
        raise Problem(403, "csrf_failed",
                      "the form expired or did not come from this site; reload and try again")


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _local(value: Any, runtime: Runtime) -> Any:
    """Times are stored in UTC; officers read them in the municipality's zone."""
    return value.astimezone(runtime.profile.tz) if isinstance(value, datetime) else value


def local_stamp(value: Any, runtime: Runtime, locale: str) -> str:
    """A stored time as an officer reads it: the local date (and time), or —."""
    return _local_stamp(value, runtime, locale)


def _local_stamp(value: Any, runtime: Runtime, locale: str) -> str:
    if not value:
        return "—"
    local = _local(value, runtime)
    return format_date(local, locale) + (local.strftime(" %H:%M")
                                         if isinstance(local, datetime) else "")


def render(request: Request, runtime: Runtime, name: str, staff: StaffUser | StaffView | None,
           status: int = 200, **context: Any) -> HTMLResponse:
    locale = staff.language if staff else request.cookies.get("klokot_lang", "en")
    if locale not in STAFF_LOCALES:
        locale = "en"
    catalogs = runtime.catalogs
    binding, new_seed = csrf_binding(request), None
    if binding is None:  # the sign-in form, first seen: a pre-session seed
        new_seed = request.state.__dict__.setdefault("new_csrf", secrets.token_urlsafe(24))
        binding = f"login:{new_seed}"

    t = catalogs.translator(locale)
    sections = [
        {"code": code, "label": t(label),
         "readable": staff is not None and can_read(staff.role, capability)}
        for code, capability, label in SECTIONS
    ]
    response = templates.TemplateResponse(
        request, name,
        {"t": t, "staff": staff, "locale": locale, "languages": LANGUAGE_NAMES,
         "staff_locales": STAFF_LOCALES, "sections": sections,
         "csrf": csrf_token(runtime.settings.resolved_secret_key(), binding),
         "is_admin": staff is not None and can_read(staff.role, Capability.staff_admin),
         "date": lambda d: _local_stamp(d, runtime, locale),
         "date_only": lambda d: format_date(_local(d, runtime), locale) if d else "—",
         "long_date": lambda d: format_date(_local(d, runtime), locale, long=True) if d else "—",
         **context},
        status_code=status,
    )
    if new_seed is not None:
        response.set_cookie(CSRF_COOKIE, new_seed, httponly=True, samesite="strict",
                            secure=is_secure(request), path="/staff")
    return response


