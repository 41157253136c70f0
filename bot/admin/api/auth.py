"""Signing in and out with a bearer token (OAuth2 password form), and `me`."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel

from bot.admin.common import Problem, problems
from bot.admin.deps import CurrentStaff, RuntimeDep, SessionDep, client_ip, run_sign_in
from bot.models.staff import StaffUser
from bot.staff import accounts, audit
from bot.staff.permissions import Capability, access

router = APIRouter(tags=["auth"])
ERRORS = problems(401, 422)
# Refused before the password was checked (429): the same for any username.
REFUSED = {"account_locked": "too many failed sign-ins for this username; try again later",
           "too_many_attempts": "too many sign-in attempts from this address; "
                                "try again later"}


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class StaffOut(BaseModel):
    username: str
    full_name: str | None
    role: str
    department: str | None
    language: str
    chat_linked: bool
    permissions: dict[str, str]

    @classmethod
    def of(cls, staff: StaffUser) -> StaffOut:
        return cls(
            username=staff.username, full_name=staff.full_name, role=staff.role.value,
            department=staff.department, language=staff.language,
            chat_linked=staff.chat_account_id is not None,
            permissions={cap.value: access(staff.role, cap).name for cap in Capability},
        )


class PasswordForm:
    """The OAuth2 password grant's form. Empty fields are a wrong password
    (401), not a malformed request."""

    def __init__(
        self,
        username: Annotated[str, Form(max_length=200)] = "",
        password: Annotated[str, Form(max_length=1000)] = "",
        grant_type: Annotated[str, Form(pattern="^password$")] = "password",
        scope: Annotated[str, Form(max_length=200)] = "",
    ) -> None:
        self.username, self.password = username, password


@router.post("/auth/token", response_model=TokenOut, responses=problems(401, 422, 429))
async def login(form: Annotated[PasswordForm, Depends()], request: Request,
                runtime: RuntimeDep) -> TokenOut:
    """Exchange a username and password for a bearer token that expires."""
    settings = runtime.settings
    ip = client_ip(request)

    def check() -> accounts.LoginResult:
        return accounts.authenticate(runtime.db, settings, form.username, form.password, ip)

    result = await run_sign_in(request, check)
    if result.delay:  # repeated failures answer ever more slowly
        await asyncio.sleep(result.delay)
    if result.code in REFUSED:
        raise Problem(429, result.code, REFUSED[result.code],
                      headers={"Retry-After": str(result.retry_after or 60)})
    if result.token is None:
        raise Problem(401, "invalid_credentials", "wrong username or password",
                      headers={"WWW-Authenticate": "Bearer"})
    return TokenOut(access_token=result.token, expires_in=result.lifetime)


@router.post("/auth/logout", status_code=204, responses=ERRORS)
def logout(staff: CurrentStaff, request: Request, session: SessionDep) -> None:
    """Revoke the token this request was made with."""
    token = request.state.token
    token.revoked_at = accounts.utcnow()
    audit.record(session, staff, "logout", ip=client_ip(request))


@router.post("/auth/logout/everywhere", status_code=204, responses=problems(401, 403))
def logout_everywhere(staff: CurrentStaff, request: Request, session: SessionDep) -> None:
    """Sign out everywhere: every browser session, API token (this one too)
    and calendar feed link of the signed-in officer ends."""
    accounts.sign_out_everywhere(session, staff, client_ip(request), accounts.utcnow())


@router.get("/me", response_model=StaffOut, responses=ERRORS)
def me(staff: CurrentStaff) -> StaffOut:
    """The signed-in officer, with what their role may do."""
    return StaffOut.of(staff)
