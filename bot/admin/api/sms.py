"""SMS subscribers for staff (issue #19), the routes: the list of numbers
registered for SMS with their state, registering a number for a citizen at
the counter or on the phone, and stopping it when the citizen asks. The
use-cases, the shapes answered and their audit are bot.staff.sms. A number
that is not one, an unknown settlement, language or topic are 422 with the
stable code and `errors` naming the field; a number registered already is
409 (`already_registered`), stopping a stopped one 409 (`already_stopped`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from bot.admin.common import READ_ERRORS, WRITE_ERRORS, Page, PageParams, problems
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.paging import page_params
from bot.db import utcnow
from bot.models.staff import StaffUser
from bot.staff import sms as staff_sms
from bot.staff.permissions import Capability

router = APIRouter(prefix="/sms", tags=["sms"])
Reader = Annotated[StaffUser, Depends(require(Capability.sms))]
Writer = Annotated[StaffUser, Depends(require(Capability.sms, write=True))]
REGISTER_ERRORS = problems(401, 403, 409, 422)
SubscriptionId = Annotated[int, Path(ge=1, le=2**31 - 1,
                                     description="The SMS registration's id")]
SubscriberPage = page_params("consented_at")


class RegistrationIn(BaseModel):
    """What the officer writes down with the citizen, who agreed to get SMS."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=32, description="The citizen's number as they say it "
                                                  "(044 123 456, or +… for a foreign one)")
    settlement: str = Field(max_length=32, description="A settlement code of the profile")
    language: str = Field(max_length=16, description="An enabled locale")
    topics: list[Annotated[str, Field(max_length=32)]] = Field(
        min_length=1, max_length=20, description="Notice topics the citizen wants by SMS")
    source: Literal["counter", "phone"] = Field(
        "counter", description="The citizen stood at the counter, or called")

    def registration(self) -> staff_sms.Registration:
        return staff_sms.Registration(phone=self.phone, settlement=self.settlement,
                                      language=self.language, topics=list(self.topics),
                                      source=self.source)


@router.get("/subscribers", response_model=Page[staff_sms.SubscriberOut],
            responses=READ_ERRORS)
def subscribers(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
                filters: Annotated[staff_sms.SubscriberFilters, Query()],
                page: Annotated[PageParams, Depends(SubscriberPage)]
                ) -> Page[staff_sms.SubscriberOut]:
    """The numbers registered for SMS, newest first, with who registered them
    and whether they were stopped; the phones shown are audited."""
    items, total = staff_sms.list_subscribers(session, runtime.profile, staff, filters, page,
                                              ip=client_ip(request))
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("/subscribers", status_code=201, response_model=staff_sms.SubscriberOut,
             responses=REGISTER_ERRORS)
def register(body: RegistrationIn, staff: Writer, session: SessionDep, runtime: RuntimeDep,
             request: Request) -> staff_sms.SubscriberOut:
    """Register a number for SMS notices (or again, after it was stopped),
    the consent recorded with the signed-in officer and now."""
    return staff_sms.act_register(session, runtime.profile, runtime.catalogs, staff,
                                  body.registration(), ip=client_ip(request), now=utcnow())


@router.post("/subscribers/{subscription_id}/stop", response_model=staff_sms.SubscriberOut,
             responses=WRITE_ERRORS)
def stop(subscription_id: SubscriptionId, staff: Writer, session: SessionDep,
         request: Request) -> staff_sms.SubscriberOut:
    """The citizen asked for no more SMS: nothing more is texted to the number,
    not even what was queued before."""
    return staff_sms.act_stop(session, staff, subscription_id, ip=client_ip(request),
                              now=utcnow())


@router.get("/budget", response_model=staff_sms.BudgetOut, responses=READ_ERRORS)
def budget(staff: Reader, session: SessionDep, runtime: RuntimeDep) -> staff_sms.BudgetOut:
    """This month's segments against the profile's budget; when it is reached
    SMS stop until the next month (the chat goes on)."""
    return staff_sms.budget(session, runtime.profile, utcnow())
