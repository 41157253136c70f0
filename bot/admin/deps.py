"""`Annotated` dependencies (FastAPI full-stack template style): the runtime,
a database session per request, the signed-in officer, and `require(...)`,
the one place where permissions are decided."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from bot.admin.common import Problem
from bot.models.staff import StaffUser
from bot.runtime import Runtime
from bot.staff.accounts import staff_for_token
from bot.staff.permissions import Access, Capability, access

T = TypeVar("T")
SESSION_COOKIE = "klokot_staff"
CSRF_COOKIE = "klokot_csrf"


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One transaction per request, committed before the answer is sent, so
    that the page a browser is redirected to after a change (or an API
    client's next read) sees it. FastAPI would otherwise end a `yield`
    dependency only after the response has left (its "request" scope)."""
    with runtime.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_or_cookie(request: Request) -> tuple[str | None, bool]:
    """The request's token, and whether it came from the browser's cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    return request.cookies.get(SESSION_COOKIE), True


def current_staff(request: Request, session: SessionDep, runtime: RuntimeDep) -> StaffUser:
    token, from_cookie = bearer_or_cookie(request)
    if token and from_cookie and request.method not in SAFE_METHODS:
        # A browser sends the cookie with any site's request: an API write on the
        # cookie alone could be forged. Scripts and clients write with a bearer token.
        raise Problem(403, "bearer_required", "API changes need a bearer token "
                      "(POST /api/v1/auth/token); the browser's session cookie only reads")
    found = staff_for_token(session, token, **session_limits(runtime)) if token else None
    if found is None:
        raise Problem(401, "not_authenticated",
                      "sign in first: the token is missing, expired, revoked or its "
                      "account is disabled", headers={"WWW-Authenticate": "Bearer"})
    staff, used = found
    request.state.staff = staff
    request.state.token = used
    return staff


CurrentStaff = Annotated[StaffUser, Depends(current_staff)]


def session_limits(runtime: Runtime) -> dict[str, Any]:
    """How long a browser session lives at the most, and unused."""
    settings = runtime.settings
    return {"hours": settings.staff_token_hours,
            "idle": timedelta(minutes=settings.staff_idle_minutes)}


def require(capability: Capability, *, write: bool = False) -> Callable[[StaffUser], StaffUser]:
    """A dependency that lets the request through only with enough access."""
    needed = Access.department if write else Access.read

    def check(staff: CurrentStaff) -> StaffUser:
        if access(staff.role, capability) < needed:
            verb = "change" if write else "see"
            raise Problem(403, "forbidden",
                          f"the {staff.role.value} role may not {verb} {capability.value}")
        return staff

    return check


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def run_sign_in(request: Request, check: Callable[[], T]) -> T:
    """Run a sign-in (argon2, made to be slow and hungry) on threads of its
    own, at most LOGIN_CONCURRENCY at a time in this process: a flood of
    sign-ins then waits its turn instead of taking the CPU and the thread
    pool that the webhooks need."""
    state = request.app.state
    limiter: CapacityLimiter | None = getattr(state, "sign_in_limiter", None)
    if limiter is None:  # made on first use, inside the app's event loop
        runtime: Runtime = state.runtime
        limiter = state.sign_in_limiter = CapacityLimiter(runtime.settings.login_concurrency)
    return await anyio.to_thread.run_sync(check, limiter=limiter)
