"""Staff pages of notices at /staff/notices: the list with status and
delivery counts, a form to write a notice in every enabled language with a
preview of what each language's citizens will get, and each notice with its
live delivery progress (a small same-origin script polls the API with the
session cookie; without it the numbers are those of the page's loading),
the answers to a public debate, a CSV for the meeting and a Cancel button.
They call the same use-cases as the API (bot.staff.notices), so audit and
rules are the same on both."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.admin import rendering
from bot.admin.deps import RuntimeDep, SessionDep, client_ip
from bot.db import utcnow
from bot.i18n import LANGUAGE_NAMES
from bot.models import NoticeStatus
from bot.models.staff import StaffUser
from bot.refusals import Invalid
from bot.runtime import Runtime
from bot.services import notices as service
from bot.staff import notices as staff_notices
from bot.staff.notices import Draft, NoticeFilters, PreviewOut
from bot.staff.permissions import Capability, can_write
from bot.staff.query import PageWindow

router = APIRouter(prefix="/staff/notices", include_in_schema=False)
HOME = "/staff/notices"
DONE = ("created", "cancelled")
# Codes with a message of their own on the form; anything else shows its detail.
ERRORS = ("unknown_topic", "unknown_settlement", "no_settlement", "missing_translation",
          "unknown_locale", "text_too_long", "send_at_in_past", "send_at_too_far", "bad_time",
          "sms_too_long")
QUESTIONS_PER_PAGE = 50
Csrf = Annotated[str, Form(max_length=200)]
# Longer than a notice may be, so that the form can say so in words.
Text = Annotated[str, Form(max_length=4 * service.TEXT_MAX)]
Short = Annotated[str, Form(max_length=40)]
SmsText = Annotated[str, Form(max_length=4 * service.SMS_TEXT_MAX)]
NoticeId = Annotated[int, Path(ge=1, le=2**31 - 1)]


Reader = Annotated[StaffUser, Depends(rendering.page_role(Capability.notices))]
Writer = Annotated[StaffUser, Depends(rendering.page_role(Capability.notices, write=True))]


@router.get("", response_class=HTMLResponse)
def list_page(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
              offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    params = {k: v for k, v in request.query_params.items() if k in {"status", "topic"}}
    filters, error = rendering.page_filters(NoticeFilters, params, runtime.profile,
                                            staff_notices.check_filters,
                                            message="staff.notices.bad_filter")
    page = PageWindow(limit=25, offset=offset)
    rows, total = staff_notices.list_notices(session, runtime.profile, filters, page)
    return rendering.render(
        request, runtime, "notices.html", staff, rows=staff_notices.list_out(session, rows),
        total=total, error=error, params=params, statuses=[s.value for s in NoticeStatus],
        can_write=can_write(staff.role, Capability.notices),
        **rendering.pager_links(request, offset, page.limit, total),
        **rendering.profile_labels(runtime, staff.language),
    )


def _form_page(request: Request, runtime: RuntimeDep, staff: StaffUser, form: dict[str, Any],
               *, status: int = 200, error: str | None = None,
               preview: dict[str, PreviewOut] | None = None) -> HTMLResponse:
    return rendering.render(request, runtime, "notices_new.html", staff, status=status, form=form,
                            error=error, preview=preview, text_max=service.TEXT_MAX,
                            day_starts=service.DAY_STARTS, day_ends=service.DAY_ENDS,
                            emergencies=service.EMERGENCIES,
                            sms_max=service.SMS_TEXT_MAX, sms_cut=service.SMS_CUT,
                            **rendering.profile_labels(runtime, staff.language))


@router.get("/new", response_class=HTMLResponse)
def new_page(request: Request, runtime: RuntimeDep, staff: Writer) -> HTMLResponse:
    form = {"topic": "", "audience": "everyone", "settlements": [], "when": "now",
            "send_at": "", "rsvp": False, "text": {}, "sms_text": {}}
    return _form_page(request, runtime, staff, form)


def _local_time(runtime: Runtime, value: str) -> datetime:
    """A `datetime-local` field's value, in the municipality's time zone."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("bad_time", f"not a date and time: {value[:40]!r}", "send_at") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=runtime.profile.tz)


def _error_text(runtime: Runtime, locale: str, refused: Invalid) -> str:
    """A refusal in the officer's language, naming the languages to fix."""
    if refused.code not in ERRORS:
        return refused.detail
    names = [LANGUAGE_NAMES.get(str(e["loc"][-1]), str(e["loc"][-1]))
             for e in refused.extra.get("errors", [])
             if e["loc"][:2] in (["body", "text"], ["body", "sms_text"])]
    limit = service.SMS_TEXT_MAX if refused.code == "sms_too_long" else service.TEXT_MAX
    return runtime.catalogs.gettext(locale, f"staff.notices.error.{refused.code}",
                                    languages=", ".join(names), max=limit)


@router.post("/new", response_class=HTMLResponse)
def new_notice(request: Request, runtime: RuntimeDep, staff: Writer, session: SessionDep,
               csrf_token: Csrf = "", action: Annotated[str, Form(max_length=16)] = "preview",
               topic: Annotated[str, Form(max_length=32)] = "",
               audience: Annotated[str, Form(max_length=16)] = "everyone",
               settlements: Annotated[list[str] | None, Form(max_length=50)] = None,
               when: Annotated[str, Form(max_length=16)] = "now", send_at: Short = "",
               rsvp: Annotated[bool, Form()] = False, text_sr_Latn: Text = "",
               text_sr_Cyrl: Text = "", text_sq: Text = "", text_en: Text = "",
               sms_sr_Latn: SmsText = "", sms_sr_Cyrl: SmsText = "", sms_sq: SmsText = "",
               sms_en: SmsText = "") -> Response:
    """"Preview" shows the form again with what each language's citizens will
    get; "Send" makes the notice and opens its page. A refusal shows the form
    again with what to fix."""
    rendering.check_csrf(request, runtime, csrf_token)
    given = {"sr_Latn": text_sr_Latn, "sr_Cyrl": text_sr_Cyrl, "sq": text_sq, "en": text_en}
    texts = {loc: given[loc] for loc in runtime.profile.enabled_locales}
    given_sms = {"sr_Latn": sms_sr_Latn, "sr_Cyrl": sms_sr_Cyrl, "sq": sms_sq, "en": sms_en}
    sms_texts = {loc: given_sms[loc] for loc in runtime.profile.enabled_locales
                 if given_sms[loc].strip()}
    everyone = audience != "settlements"
    chosen = [code[:32] for code in settlements or []]
    later = when == "later"
    form = {"topic": topic, "audience": "everyone" if everyone else "settlements",
            "settlements": chosen, "when": "later" if later else "now", "send_at": send_at,
            "rsvp": rsvp, "text": texts, "sms_text": sms_texts}
    try:
        if not everyone and not chosen:
            raise Invalid("no_settlement", "choose at least one settlement, or everyone",
                          "settlements")
        draft = Draft(topic=topic, settlements=None if everyone else chosen, texts=texts,
                      send_at=_local_time(runtime, send_at) if later else None, rsvp=rsvp,
                      sms_texts=sms_texts)
        if action != "send":
            preview = staff_notices.preview_draft(runtime.catalogs, runtime.profile, draft,
                                                  utcnow())
            return _form_page(request, runtime, staff, form, preview=preview)
        notice = staff_notices.act_create(session, runtime.profile, staff, draft,
                                          ip=client_ip(request), now=utcnow())
    except Invalid as refused:
        return _form_page(request, runtime, staff, form, status=refused.status,
                          error=_error_text(runtime, staff.language, refused))
    return RedirectResponse(f"{HOME}/{notice.id}?done=created", status_code=303)


@router.get("/{notice_id}", response_class=HTMLResponse)
def notice_page(notice_id: NoticeId, request: Request, runtime: RuntimeDep,
                staff: Reader, session: SessionDep,
                offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    found = staff_notices.find_notice(session, notice_id)
    detail = staff_notices.detail_out(session, runtime.catalogs, runtime.profile, found)
    page = PageWindow(limit=QUESTIONS_PER_PAGE, offset=offset)
    questions, total = staff_notices.list_questions(session, found, page)
    done = request.query_params.get("done")
    finished = detail.recipients - detail.pending
    return rendering.render(
        request, runtime, "notices_detail.html", staff, n=detail, questions=questions,
        question_offset=offset, done=done if done in DONE else None,
        can_cancel=(can_write(staff.role, Capability.notices) and detail.in_progress
                    and detail.status is not NoticeStatus.cancelled),
        finished=finished, bar_max=max(detail.recipients, 1),
        csv_link=f"/api/v1/notices/{notice_id}/answers.csv",
        **rendering.pager_links(request, offset, page.limit, total),
        now=utcnow(), **rendering.profile_labels(runtime, staff.language),
    )


@router.post("/{notice_id}/cancel")
def cancel(notice_id: NoticeId, request: Request, runtime: RuntimeDep, staff: Writer,
           session: SessionDep, csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    staff_notices.act_cancel(session, staff, notice_id, ip=client_ip(request), now=utcnow())
    return RedirectResponse(f"{HOME}/{notice_id}?done=cancelled", status_code=303)
