"""Staff pages of SMS at /staff/sms (issue #19): the list of numbers
registered for SMS with their state and a Stop button (the citizen asked at
the counter or on the phone), and the "Register for SMS" form an officer
fills in with an older citizen: the number, settlement, language and topics,
at the counter or on the phone. A mistake shows the form again with what to
fix. They call the same use-cases as the API (bot.staff.sms)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.admin import rendering
from bot.admin.deps import RuntimeDep, SessionDep, client_ip
from bot.db import utcnow
from bot.models.sms import SmsConsentSource
from bot.models.staff import StaffUser
from bot.refusals import Conflict, Invalid
from bot.staff import sms as staff_sms
from bot.staff.permissions import Capability, can_write
from bot.staff.query import PageWindow
from bot.staff.sms import Registration, SubscriberFilters

router = APIRouter(prefix="/staff/sms", include_in_schema=False)
HOME = "/staff/sms"
DONE = ("registered", "stopped")
# Codes with a message of their own on the form; anything else shows its detail.
ERRORS = ("invalid_phone", "unknown_settlement", "unknown_language", "unknown_topic",
          "no_topic", "invalid_source", "already_registered")
Csrf = Annotated[str, Form(max_length=200)]
Short = Annotated[str, Form(max_length=40)]
SubscriptionId = Annotated[int, Path(ge=1, le=2**31 - 1)]

Reader = Annotated[StaffUser, Depends(rendering.page_role(Capability.sms))]
Writer = Annotated[StaffUser, Depends(rendering.page_role(Capability.sms, write=True))]


@router.get("", response_class=HTMLResponse)
def list_page(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
              offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    params = {k: v for k, v in request.query_params.items()
              if k in {"state", "settlement", "source"}}
    filters, error = rendering.page_filters(SubscriberFilters, params, runtime.profile,
                                            staff_sms.check_filters,
                                            message="staff.sms.bad_filter")
    page = PageWindow(limit=50, offset=offset)
    rows, total = staff_sms.list_subscribers(session, runtime.profile, staff, filters, page,
                                             ip=client_ip(request))
    done = request.query_params.get("done")
    return rendering.render(
        request, runtime, "sms.html", staff, rows=rows, total=total, error=error,
        params=params, states=["active", "stopped"],
        budget=staff_sms.budget(session, runtime.profile, utcnow()),
        sources=[s.value for s in SmsConsentSource], done=done if done in DONE else None,
        can_write=can_write(staff.role, Capability.sms),
        **rendering.pager_links(request, offset, page.limit, total),
        **rendering.profile_labels(runtime, staff.language),
    )


def _form_page(request: Request, runtime: RuntimeDep, staff: StaffUser, form: dict[str, Any],
               *, status: int = 200, error: str | None = None) -> HTMLResponse:
    return rendering.render(request, runtime, "sms_new.html", staff, status=status, form=form,
                            error=error, sources=staff_sms.OFFICER_SOURCES,
                            **rendering.profile_labels(runtime, staff.language))


@router.get("/new", response_class=HTMLResponse)
def new_page(request: Request, runtime: RuntimeDep, staff: Writer) -> HTMLResponse:
    form = {"phone": "", "settlement": "", "language": runtime.profile.default_locale,
            "topics": [], "source": SmsConsentSource.counter.value, "consent": False}
    return _form_page(request, runtime, staff, form)


def _error_text(runtime: RuntimeDep, locale: str, refused: Invalid | Conflict) -> str:
    if refused.code not in ERRORS:
        return refused.detail
    return runtime.catalogs.gettext(locale, f"staff.sms.error.{refused.code}")


@router.post("/new", response_class=HTMLResponse)
def register(request: Request, runtime: RuntimeDep, staff: Writer, session: SessionDep,
             csrf_token: Csrf = "", phone: Short = "",
             settlement: Annotated[str, Form(max_length=32)] = "",
             language: Annotated[str, Form(max_length=16)] = "",
             topics: Annotated[list[str] | None, Form(max_length=20)] = None,
             source: Annotated[str, Form(max_length=16)] = SmsConsentSource.counter.value,
             consent: Annotated[bool, Form()] = False) -> Response:
    """Register the number and open the list; a mistake shows the form again."""
    rendering.check_csrf(request, runtime, csrf_token)
    chosen = [code[:32] for code in topics or []]
    form = {"phone": phone, "settlement": settlement, "language": language, "topics": chosen,
            "source": source, "consent": consent}
    try:
        if not consent:
            raise Invalid("no_consent", "the citizen's consent is not confirmed", "consent")
        staff_sms.act_register(session, runtime.profile, runtime.catalogs, staff,
                               Registration(phone=phone, settlement=settlement,
                                            language=language, topics=chosen, source=source),
                               ip=client_ip(request), now=utcnow())
    except (Invalid, Conflict) as refused:
        message = (runtime.catalogs.gettext(staff.language, "staff.sms.error.no_consent")
                   if refused.code == "no_consent"
                   else _error_text(runtime, staff.language, refused))
        return _form_page(request, runtime, staff, form, status=refused.status, error=message)
    return RedirectResponse(f"{HOME}?done=registered", status_code=303)


@router.post("/{subscription_id}/stop")
def stop(subscription_id: SubscriptionId, request: Request, runtime: RuntimeDep,
         staff: Writer, session: SessionDep, csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    staff_sms.act_stop(session, staff, subscription_id, ip=client_ip(request), now=utcnow())
    return RedirectResponse(f"{HOME}?done=stopped", status_code=303)
