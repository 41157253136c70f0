"""The general staff pages at /staff: sign-in and out, the dashboard, the
citizens list, the audit log, linking the officer's own chat, the officer's
language. Server-rendered (Jinja2, `bot.admin.rendering`), no inline script,
every asset served from here; like the API, they call the staff use-cases."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.admin.common import PageParams
from bot.admin.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    RuntimeDep,
    SessionDep,
    client_ip,
    run_sign_in,
)
from bot.admin.rendering import (
    STAFF_LOCALES,
    PageStaff,
    check_csrf,
    is_secure,
    page_role,
    pager_links,
    profile_labels,
    render,
    settlement_labels,
)
from bot.db import utcnow
from bot.models.staff import StaffUser
from bot.refusals import Invalid
from bot.staff import accounts, citizens, overview
from bot.staff.audit import AuditFilters, list_audit, record
from bot.staff.citizens import CitizenFilters
from bot.staff.permissions import Capability, can_read, sees_citizen_list
from bot.staff.query import PageWindow

router = APIRouter(prefix="/staff", include_in_schema=False)
# What the sign-in page says when it refuses before checking the password (429).
LOGIN_ERRORS = {"account_locked": "staff.login.locked",
                "too_many_attempts": "staff.login.throttled"}

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

    def check() -> accounts.LoginResult:
        return accounts.authenticate(
            runtime.db, runtime.settings, username, password, ip, token_kind=accounts.SESSION,
            idle=timedelta(minutes=runtime.settings.staff_idle_minutes))

    result = await run_sign_in(request, check)
    token = result.token
    if token is None:
        import asyncio

        if result.delay:
            await asyncio.sleep(result.delay)
        key = LOGIN_ERRORS.get(result.code or "", "staff.login.failed")
        refused = render(request, runtime, "login.html", None,
                         status=401 if key == "staff.login.failed" else 429,
                         error=key, username=username[:64])
        if result.retry_after:
            refused.headers["Retry-After"] = str(result.retry_after)
        return refused
    response = RedirectResponse("/staff", status_code=303)
    # No max-age: the session ends with the browser (and unused, on the server).
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=is_secure(request), path="/")
    # The sign-in form's seed served once: the session's forms get tokens of their
    # own, and the next sign-in form a new seed.
    response.delete_cookie(CSRF_COOKIE, path="/staff", httponly=True, samesite="strict",
                           secure=is_secure(request))
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


@router.post("/logout/everywhere")
def logout_everywhere(request: Request, runtime: RuntimeDep, staff: PageStaff,
                      session: SessionDep,
                      csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Sign out everywhere: every browser session, API token and calendar
    feed link of this officer ends, this browser's too."""
    check_csrf(request, runtime, csrf_token)
    accounts.sign_out_everywhere(session, staff, client_ip(request), accounts.utcnow())
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, runtime: RuntimeDep, staff: PageStaff,
              session: SessionDep) -> HTMLResponse:
    """The officer's day at a glance: the overview's numbers, each a link to its list."""
    now = utcnow()
    return render(request, runtime, "dashboard.html", staff,
                  o=overview.overview(session, runtime.profile, staff, now),
                  report_link=f"/staff/reports/{overview.last_month(runtime.profile, now)}"
                  if can_read(staff.role, Capability.reports) else None,
                  **profile_labels(runtime, staff.language))


def _citizen_filters(request: Request) -> CitizenFilters:
    """The filter form's choices; "any" arrives as an empty value and means no filter."""
    query = request.query_params
    channel = query.get("channel") or None
    if channel is not None and channel not in citizens.CHANNELS:
        raise Invalid("invalid_filter", f"unknown channel {channel[:20]!r}")
    return CitizenFilters(channel=channel,
                          language=query.get("language") or None,
                          settlement=query.get("settlement") or None)


@router.get("/citizens", response_class=HTMLResponse)
def citizens_page(request: Request, runtime: RuntimeDep, staff: PageStaff, session: SessionDep,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    profile = runtime.profile
    page = PageWindow(limit=50, offset=offset)
    listed = sees_citizen_list(staff)  # department officers and viewers: counts only
    try:
        filters = _citizen_filters(request)
        if listed:
            rows, total = citizens.list_citizens(session, profile, filters, page)
        else:
            rows, total = [], citizens.count_citizens(session, profile, filters)
        error = None
    except Invalid as refused:
        filters = CitizenFilters()
        rows, total, error = [], 0, refused.detail
    personal = citizens.audit_shown(session, staff, rows, client_ip(request))
    settlement_names = settlement_labels(runtime, staff.language)
    return render(
        request, runtime, "citizens.html", staff, citizens=rows, total=total, page=page,
        personal=personal, listed=listed, error=error, filters=filters,
        channels=citizens.CHANNELS,
        settlements=settlement_names, locales=profile.enabled_locales,
        **pager_links(request, page.offset, page.limit, total),
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, runtime: RuntimeDep,
               staff: Annotated[StaffUser, Depends(page_role(Capability.staff_admin))],
               session: SessionDep, filters: Annotated[AuditFilters, Query()],
               page: Annotated[PageParams, Depends()]) -> HTMLResponse:
    rows, total = list_audit(session, filters, page)
    return render(
        request, runtime, "audit.html", staff, entries=rows, total=total, page=page,
        filters=filters, **pager_links(request, page.offset, page.limit, total),
    )


@router.get("/chat", response_class=HTMLResponse)
def chat_page(request: Request, runtime: RuntimeDep, staff: PageStaff,
              session: SessionDep) -> HTMLResponse:
    return render(request, runtime, "chat.html", staff, code=None,
                  linked=accounts.linked_chat(session, staff))


@router.post("/chat/code", response_class=HTMLResponse)
def chat_code(request: Request, runtime: RuntimeDep, staff: PageStaff, session: SessionDep,
              csrf_token: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    check_csrf(request, runtime, csrf_token)
    code = accounts.start_chat_link(session, staff)
    return render(request, runtime, "chat.html", staff, code=code,
                  minutes=accounts.LINK_CODE_MINUTES,
                  linked=accounts.linked_chat(session, staff))


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
    """Every capability has its own pages (their routers come first): any
other section is not found."""
    return render(request, runtime, "not_found.html", staff, status=404)


