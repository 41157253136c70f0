"""Staff pages at /staff: server-rendered (Jinja2), no inline script, every
asset served from here. They call the same services as the API."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from bot.admin.api.audit import AuditFilters, list_audit
from bot.admin.api.citizens import CHANNELS, CitizenFilters, list_citizens, shows_personal_data
from bot.admin.common import PageParams, Problem
from bot.admin.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    RuntimeDep,
    SessionDep,
    client_ip,
    require,
)
from bot.i18n import LANGUAGE_NAMES, format_date
from bot.models.staff import Role, StaffUser
from bot.profile import ABROAD
from bot.runtime import Runtime
from bot.staff import accounts
from bot.staff.audit import record
from bot.staff.permissions import Capability, can_read
from bot.staff.security import csrf_token, csrf_valid

router = APIRouter(prefix="/staff", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STAFF_LOCALES = ("en", "sr_Latn", "sr_Cyrl", "sq")
# The capabilities of SPEC §3 that later issues add pages for.
SECTIONS = [
    ("reception", Capability.reception, "staff.nav.reception"),
    ("documents", Capability.documents, "staff.nav.documents"),
    ("complaints", Capability.complaints, "staff.nav.complaints"),
    ("surveys", Capability.surveys, "staff.nav.surveys"),
    ("notices", Capability.notices, "staff.nav.notices"),
]
# Sections with their own pages (the rest say "not built yet").
BUILT = {"reception", "documents", "complaints", "notices", "surveys"}


class LoginRequired(Exception):
    """Raised by page dependencies; answered with a redirect to the login page."""


class PageForbidden(Exception):
    def __init__(self, staff: StaffUser) -> None:
        self.staff = staff


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


def page_staff(request: Request, session: SessionDep) -> StaffUser:
    token = request.cookies.get(SESSION_COOKIE)
    found = accounts.staff_for_token(session, token) if token else None
    if found is None:
        raise LoginRequired
    staff, request.state.token = found
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


def pager_links(request: Request, offset: int, limit: int, total: int) -> dict[str, str | None]:
    """`prev_link` and `next_link` of a list page (None at either end),
    keeping the page's other query parameters (its filters)."""
    query = {k: v for k, v in request.query_params.items() if k not in {"offset", "done"}}

    def link(to: int) -> str:
        return "?" + urlencode({**query, "offset": to})

    return {"prev_link": link(max(0, offset - limit)) if offset else None,
            "next_link": link(offset + limit) if offset + limit < total else None}


def csrf_seed(request: Request) -> str:
    seed = request.cookies.get(CSRF_COOKIE)
    if not seed:
        seed = request.state.__dict__.setdefault("new_csrf", secrets.token_urlsafe(24))
    return seed


def check_csrf(request: Request, runtime: Runtime, given: str | None) -> None:
    if not csrf_valid(runtime.settings.resolved_secret_key(), request.cookies.get(CSRF_COOKIE),
                      given):
        raise Problem(403, "csrf_failed",
                      "the form expired or did not come from this site; reload and try again")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _local(value: Any, runtime: Runtime) -> Any:
    """Times are stored in UTC; officers read them in the municipality's zone."""
    return value.astimezone(runtime.profile.tz) if isinstance(value, datetime) else value


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
    seed = csrf_seed(request)

    def t(key: str, **params: object) -> str:
        return catalogs.gettext(locale, key, **params)

    sections = [
        {"code": code, "label": t(label), "built": code in BUILT,
         "readable": staff is not None and can_read(staff.role, capability)}
        for code, capability, label in SECTIONS
    ]
    response = templates.TemplateResponse(
        request, name,
        {"t": t, "staff": staff, "locale": locale, "languages": LANGUAGE_NAMES,
         "staff_locales": STAFF_LOCALES, "sections": sections,
         "csrf": csrf_token(runtime.settings.resolved_secret_key(), seed),
         "is_admin": staff is not None and can_read(staff.role, Capability.staff_admin),
         "date": lambda d: _local_stamp(d, runtime, locale),
         "date_only": lambda d: format_date(_local(d, runtime), locale) if d else "—",
         "long_date": lambda d: format_date(_local(d, runtime), locale, long=True) if d else "—",
         **context},
        status_code=status,
    )
    if request.cookies.get(CSRF_COOKIE) != seed:
        response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="strict",
                            secure=_secure(request), path="/staff")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    return render(request, runtime, "login.html", None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, runtime: RuntimeDep,
                username: Annotated[str, Form(max_length=200)] = "",
                password: Annotated[str, Form(max_length=1000)] = "",
                csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    ip = client_ip(request)

    def check() -> tuple[accounts.LoginResult, str | None]:
        with runtime.db.session() as session:
            result = accounts.authenticate(session, runtime.settings, username, password, ip)
            if result.staff is None:
                return result, None
            token, _ = accounts.issue_token(session, result.staff, "session",
                                            runtime.settings.staff_token_hours)
            return result, token

    result, token = await run_in_threadpool(check)
    if token is None:
        import asyncio

        if result.delay:
            await asyncio.sleep(result.delay)
        key = "staff.login.locked" if result.code == "account_locked" else "staff.login.failed"
        return render(request, runtime, "login.html", None,
                      status=429 if result.code == "account_locked" else 401,
                      error=key, username=username[:64])
    response = RedirectResponse("/staff", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=_secure(request), path="/",
                        max_age=int(runtime.settings.staff_token_hours * 3600))
    return response


@router.post("/logout")
def logout(request: Request, runtime: RuntimeDep, staff: PageStaff, session: SessionDep,
           csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    request.state.token.revoked_at = accounts.utcnow()
    record(session, staff, "logout", ip=client_ip(request))
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, runtime: RuntimeDep, staff: PageStaff) -> HTMLResponse:
    return render(request, runtime, "dashboard.html", staff)


def _citizen_filters(request: Request) -> CitizenFilters:
    """The filter form's choices; "any" arrives as an empty value and means no filter."""
    query = request.query_params
    channel = query.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise Problem(422, "invalid_filter", f"unknown channel {channel[:20]!r}")
    return CitizenFilters(channel=channel,  # type: ignore[arg-type]
                          language=query.get("language") or None,
                          settlement=query.get("settlement") or None)


@router.get("/citizens", response_class=HTMLResponse)
def citizens_page(request: Request, runtime: RuntimeDep, staff: PageStaff, session: SessionDep,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    profile = runtime.profile
    settlements = [s.code for s in profile.settlements]
    page = PageParams(limit=50, offset=offset)
    try:
        filters = _citizen_filters(request)
        rows, total = list_citizens(session, profile.enabled_locales, settlements, filters, page)
        error = None
    except Problem as problem:
        filters = CitizenFilters()
        rows, total, error = [], 0, problem.detail
    personal = shows_personal_data(staff)
    if personal and rows:
        record(session, staff, "citizen.list", object_type="citizen",
               detail="ids " + ",".join(str(c.id) for c in rows), ip=client_ip(request))
    settlement_names = settlement_labels(runtime, staff.language)
    return render(
        request, runtime, "citizens.html", staff, citizens=rows, total=total, page=page,
        personal=personal, error=error, filters=filters, channels=CHANNELS,
        settlements=settlement_names, locales=profile.enabled_locales,
        **pager_links(request, page.offset, page.limit, total),
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, runtime: RuntimeDep, staff: PageStaff, session: SessionDep,
               filters: Annotated[AuditFilters, Depends()],
               page: Annotated[PageParams, Depends()]) -> HTMLResponse:
    if not can_read(staff.role, Capability.staff_admin):
        return render(request, runtime, "forbidden.html", staff, status=403)
    rows, total = list_audit(session, filters, page)
    return render(
        request, runtime, "audit.html", staff, entries=rows, total=total, page=page,
        filters=filters, **pager_links(request, page.offset, page.limit, total),
    )


@router.get("/chat", response_class=HTMLResponse)
def chat_page(request: Request, runtime: RuntimeDep, staff: PageStaff) -> HTMLResponse:
    return render(request, runtime, "chat.html", staff, code=None)


@router.post("/chat/code", response_class=HTMLResponse)
def chat_code(request: Request, runtime: RuntimeDep, staff: PageStaff, session: SessionDep,
              csrf_token: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    check_csrf(request, runtime, csrf_token)
    code = accounts.start_chat_link(session, staff)
    return render(request, runtime, "chat.html", staff, code=code,
                  minutes=accounts.LINK_CODE_MINUTES)


@router.post("/chat/unlink")
def chat_unlink(request: Request, runtime: RuntimeDep, staff: PageStaff, session: SessionDep,
                csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    accounts.unlink_chat(session, staff)
    return RedirectResponse("/staff/chat", status_code=303)


@router.post("/language")
def language(request: Request, runtime: RuntimeDep, staff: PageStaff, session: SessionDep,
             locale: Annotated[str, Form(max_length=16)] = "en",
             csrf_token: Annotated[str, Form(max_length=200)] = "",
             back: Annotated[str, Form(max_length=200)] = "/staff") -> Response:
    check_csrf(request, runtime, csrf_token)
    if locale in STAFF_LOCALES and locale != staff.language:
        record(session, staff, "account.language", object_type="staff", object_id=staff.username,
               before={"language": staff.language}, after={"language": locale})
        staff.language = locale
    target = back if back.startswith("/staff") and "//" not in back else "/staff"
    return RedirectResponse(target, status_code=303)


@router.get("/{section}", response_class=HTMLResponse)
def section_page(section: str, request: Request, runtime: RuntimeDep,
                 staff: PageStaff) -> HTMLResponse:
    """A capability whose pages are not built yet says so honestly."""
    known = {code: label for code, _, label in SECTIONS}
    if section not in known:
        return render(request, runtime, "not_found.html", staff, status=404)
    return render(request, runtime, "coming.html", staff, section=known[section])


