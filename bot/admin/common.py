"""What every admin router shares: problem-JSON errors with a stable `code`
(every `Refused` answered by one handler, which also audits the refusals of
a signed-in officer), and the paging parameters
(`limit`, `offset`, `sort`) with the `Page` they return."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Generic, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import inspect, select
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.models.staff import StaffToken
from bot.refusals import Refused
from bot.staff import audit
from bot.staff.query import PageWindow

T = TypeVar("T")
PROBLEM = "application/problem+json"
DATABASE_RETRY_AFTER = 5  # seconds a client is asked to wait while the database is away
log = logging.getLogger(__name__)


class Problem(Refused):
    """A refusal that only the web knows, with its own status and headers
    (401 with WWW-Authenticate, 429 with Retry-After, a CSRF failure)."""

    def __init__(self, status: int, code: str, detail: str,
                 headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(code, detail, **extra)
        self.status = status
        self.headers = dict(headers or {})


class ProblemBody(BaseModel):
    """The shape of every error answer."""

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str
    errors: list[dict[str, Any]] | None = None


_PROBLEM_SCHEMA = ProblemBody.model_json_schema()
_DESCRIPTIONS = {401: "Not signed in, or the token expired or was revoked",
                 403: "The role may not do this", 404: "No such item",
                 422: "Invalid input (names the fields)", 429: "Too many attempts"}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error answers, documented as problem JSON."""
    return {code: {"description": _DESCRIPTIONS.get(code, "Error"),
                   "content": {PROBLEM: {"schema": _PROBLEM_SCHEMA}}} for code in codes}


# The error answers most routes document: a list, one item, a change.
READ_ERRORS = problems(401, 403, 422)
ONE_ERRORS = problems(401, 403, 404, 422)
WRITE_ERRORS = problems(401, 403, 404, 409, 422)

CSV: dict[int | str, dict[str, Any]] = {
    200: {"description": "CSV, UTF-8 with BOM",
          "content": {"text/csv": {"schema": {"type": "string"}}}}}

_TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 413: "Too large",
           415: "Unsupported media type", 422: "Invalid input", 429: "Too many requests",
           500: "Server error", 503: "Unavailable"}
_CODES = {401: "not_authenticated", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 422: "validation_error", 429: "too_many_requests"}


def problem_response(status: int, code: str, detail: str,
                     headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status,
            "code": code, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}),
                        media_type=PROBLEM)


def as_problem(exc: Exception) -> Problem:
    """Framework errors (404, 405, validation) as our Problem, with a stable code."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, Refused):
        extra = dict(exc.extra)
        if exc.field is not None and "errors" not in extra:
            extra["errors"] = [{"loc": ["body", exc.field], "msg": exc.detail}]
        return Problem(exc.status, exc.code, exc.detail, **extra)
    if isinstance(exc, RequestValidationError):
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
                  for e in exc.errors()]
        fields = ", ".join(".".join(e["loc"][1:]) or e["loc"][0] for e in errors if e["loc"])
        return Problem(422, "validation_error", f"invalid input: {fields}", errors=errors)
    if isinstance(exc, DataError):  # e.g. NUL in a text, a number out of the column's range
        return Problem(422, "invalid_data", "the input contains characters or values that "
                       "cannot be stored (for example a NUL character)")
    if isinstance(exc, OperationalError):  # the database restarts or cannot be reached
        return Problem(503, "database_unavailable",
                       "the database is unavailable for a moment; please try again shortly",
                       {"Retry-After": str(DATABASE_RETRY_AFTER)})
    if isinstance(exc, StarletteHTTPException):
        return Problem(exc.status_code, _CODES.get(exc.status_code, "error"), str(exc.detail),
                       getattr(exc, "headers", None))
    raise TypeError(exc)


def audit_refusal(request: Request, problem: Problem) -> None:
    """Every refusal of a signed-in officer's request goes into the audit
    log — here, in the one handler every refusal passes, in a transaction of
    its own (the request's was rolled back). Nobody is named when no officer
    was known (401, a sign-in that failed: those are audited as logins)."""
    token = getattr(request.state, "token", None)
    if token is None or not 400 <= problem.status < 500:
        return
    state = inspect(token, raiseerr=False)
    key = state.identity if state is not None else None  # even after its session ended
    runtime = getattr(request.app.state, "runtime", None)
    if key is None or runtime is None:
        return
    try:
        with runtime.db.session() as session:
            staff_id = session.scalar(select(StaffToken.staff_id).where(
                StaffToken.id == key[0]))
            if staff_id is not None:
                audit.record_refusal(session, staff_id, status=problem.status,
                                     code=problem.code, method=request.method,
                                     path=request.url.path,
                                     ip=request.client.host if request.client else None)
    except SQLAlchemyError:  # the refusal is answered all the same
        log.exception("could not audit a refused %s %s", request.method, request.url.path)


def install_problem_handlers(
    app: FastAPI,
    html: Callable[[Request, Problem], Response | None] | None = None,
) -> None:
    """Every error becomes problem JSON — or, where `html` answers (the staff
    pages), a page for people."""

    async def handle(request: Request, exc: Exception) -> Response:
        problem = as_problem(exc)
        await run_in_threadpool(audit_refusal, request, problem)
        page = html(request, problem) if html else None
        if page is not None:
            return page
        return problem_response(problem.status, problem.code, problem.detail,
                                problem.headers, **problem.extra)

    async def unavailable(request: Request, exc: Exception) -> Response:
        log.error("%s %s: database unavailable (%s)", request.method, request.url.path,
                  str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return await handle(request, exc)

    for kind in (Refused, StarletteHTTPException, RequestValidationError, DataError):
        app.add_exception_handler(kind, handle)
    app.add_exception_handler(OperationalError, unavailable)


class Page(BaseModel, Generic[T]):
    """One page of a list; `total` counts every match, not just this page."""

    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(PageWindow):
    """`limit` 1–200 (default 50), `offset` from 0, `sort` a field name, `-` for descending."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")] = 0,
        sort: Annotated[str | None, Query(max_length=40, pattern=r"^-?[a-z_]+$",
                                          description="Field to sort by; -field descends")
                        ] = None,
    ) -> None:
        super().__init__(limit, offset, sort)
