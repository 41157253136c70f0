"""Notices for staff (SPEC §3.6, §3.7), the routes: writing a notice in
every enabled language to the subscribers of a topic (everyone, or some
settlements), now or at a later time, previewing it, following its
delivery, cancelling it, and the answers to a public debate with their CSV.
The request bodies are here; the use-cases, the shapes answered and their
audit are bot.staff.notices. Input the schema refuses (a wrong type, a text
over the limit) and input a notice's rule refuses (an unknown topic or
settlement, a language left empty, a time in the past) are both 422, the
latter with the rule's stable code and `errors` naming the fields."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bot.admin.common import CSV, ONE_ERRORS, READ_ERRORS, WRITE_ERRORS, Page, PageParams, problems
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.export import csv_response
from bot.admin.paging import page_params
from bot.db import utcnow
from bot.models.staff import StaffUser
from bot.services.notices import SMS_TEXT_MAX, TEXT_MAX
from bot.staff import notices as staff_notices
from bot.staff.permissions import Capability

router = APIRouter(prefix="/notices", tags=["notices"])
Reader = Annotated[StaffUser, Depends(require(Capability.notices))]
Writer = Annotated[StaffUser, Depends(require(Capability.notices, write=True))]
MAKE_ERRORS = problems(401, 403, 422)
SETTLEMENTS_MAX = 50
NoticeIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The notice's id")]
LocaleText = Annotated[str | None, Field(None, max_length=TEXT_MAX)]
NoticePage = page_params("created_at", "send_at")
AnswerPage = page_params("created_at")


class NoticeTextIn(BaseModel):
    """The notice in each enabled language; every one is required (see the
    schema's `required`), blank ones are refused with `missing_translation`."""

    model_config = ConfigDict(extra="forbid")

    sr_Latn: LocaleText = None
    sr_Cyrl: LocaleText = None
    sq: LocaleText = None
    en: LocaleText = None

    def texts(self) -> dict[str, str]:
        return {locale: text for locale, text in self.model_dump().items() if text is not None}


SmsText = Annotated[str | None, Field(None, max_length=SMS_TEXT_MAX)]


class SmsTextIn(BaseModel):
    """The short form for SMS citizens in each language, all optional: a
    language without one gets the text's first 300 characters with the
    municipality's name."""

    model_config = ConfigDict(extra="forbid")

    sr_Latn: SmsText = None
    sr_Cyrl: SmsText = None
    sq: SmsText = None
    en: SmsText = None

    def texts(self) -> dict[str, str]:
        return {locale: text for locale, text in self.model_dump().items() if text}


class NoticeIn(BaseModel):
    topic: str = Field(max_length=32, description="A notice topic of the profile")
    settlements: list[Annotated[str, Field(max_length=32)]] | None = Field(
        None, min_length=1, max_length=SETTLEMENTS_MAX,
        description="Settlement codes (or `abroad`) whose subscribers get it; null: everyone")
    text: NoticeTextIn
    sms_text: SmsTextIn | None = Field(None, description="Short forms for SMS (optional)")
    send_at: AwareDatetime | None = Field(
        None, description="When to send (with its offset); null: now. Ordinary notices "
                          "wait for 08:00–21:00 local time, `emergencies` do not")
    rsvp: bool = Field(False, description="Public debate: citizens can say they come and "
                                          "ask a question in advance")

    def draft(self) -> staff_notices.Draft:
        return staff_notices.Draft(topic=self.topic, settlements=self.settlements,
                                   texts=self.text.texts(), send_at=self.send_at,
                                   rsvp=self.rsvp,
                                   sms_texts=self.sms_text.texts() if self.sms_text else {})


@router.get("", response_model=Page[staff_notices.NoticeOut], responses=READ_ERRORS)
def notices(staff: Reader, session: SessionDep, runtime: RuntimeDep,
            filters: Annotated[staff_notices.NoticeFilters, Query()],
            page: Annotated[PageParams, Depends(NoticePage)]) -> Page[staff_notices.NoticeOut]:
    """The notices, newest first, with their delivery counts."""
    rows, total = staff_notices.list_notices(session, runtime.profile, filters, page)
    return Page(items=staff_notices.list_out(session, rows), total=total, limit=page.limit,
                offset=page.offset)


@router.post("", status_code=201, response_model=staff_notices.NoticeDetail, responses=MAKE_ERRORS)
def create(body: NoticeIn, staff: Writer, session: SessionDep, runtime: RuntimeDep,
           request: Request) -> staff_notices.NoticeDetail:
    """Send a notice to the topic's subscribers (now, or at `send_at`). A rule
    broken is 422 with its code and the fields in `errors`: `unknown_topic`,
    `unknown_settlement`, `missing_translation` (every enabled language
    needs a text), `unknown_locale`, `text_too_long`, `send_at_in_past`,
    `send_at_too_far` (over a year ahead)."""
    notice = staff_notices.act_create(session, runtime.profile, staff, body.draft(),
                                      ip=client_ip(request), now=utcnow())
    return staff_notices.detail_out(session, runtime.catalogs, runtime.profile, notice)


Previews = dict[str, staff_notices.PreviewOut]


@router.post("/preview", response_model=Previews, responses=MAKE_ERRORS)
def preview(body: NoticeIn, staff: Writer, runtime: RuntimeDep) -> Previews:
    """How a citizen of each enabled language will see the notice (text and
    buttons); nothing is saved. The same rules as sending apply."""
    return staff_notices.preview_draft(runtime.catalogs, runtime.profile, body.draft(),
                                       utcnow())


@router.get("/{notice_id}", response_model=staff_notices.NoticeDetail, responses=ONE_ERRORS)
def notice_detail(notice_id: NoticeIdPath, staff: Reader, session: SessionDep,
                  runtime: RuntimeDep) -> staff_notices.NoticeDetail:
    """One notice with its delivery counts, previews and the answers' summary."""
    return staff_notices.detail_out(session, runtime.catalogs, runtime.profile,
                                    staff_notices.find_notice(session, notice_id))


@router.post("/{notice_id}/cancel", response_model=staff_notices.NoticeDetail,
             responses=WRITE_ERRORS)
def cancel(notice_id: NoticeIdPath, staff: Writer, session: SessionDep, runtime: RuntimeDep,
           request: Request) -> staff_notices.NoticeDetail:
    """Stop the notice: what has not left yet never will (`already_cancelled` 409)."""
    notice = staff_notices.act_cancel(session, staff, notice_id, ip=client_ip(request),
                                      now=utcnow())
    return staff_notices.detail_out(session, runtime.catalogs, runtime.profile, notice)


@router.get("/{notice_id}/answers", response_model=staff_notices.AnswersOut, responses=ONE_ERRORS)
def answers(notice_id: NoticeIdPath, staff: Reader, session: SessionDep, runtime: RuntimeDep,
            page: Annotated[PageParams, Depends(AnswerPage)]) -> staff_notices.AnswersOut:
    """Who is coming per settlement, and one page of the questions (never who asked)."""
    return staff_notices.answers_out(session, runtime.profile,
                                     staff_notices.find_notice(session, notice_id), page)


@router.get("/{notice_id}/answers.csv", response_class=Response, responses={**CSV, **ONE_ERRORS})
def answers_csv(notice_id: NoticeIdPath, staff: Reader, session: SessionDep,
                runtime: RuntimeDep, request: Request) -> Response:
    """The answers for the meeting as CSV (Excel-safe, no names); every export is audited."""
    body, filename = staff_notices.export_answers(
        session, runtime.catalogs, runtime.profile, staff,
        staff_notices.find_notice(session, notice_id), ip=client_ip(request), now=utcnow())
    return csv_response(body, filename)
