"""Mounting the staff side on the app: API, pages, static files, /docs from
local files, problem answers, and the security headers every answer carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.admin.api import api_router
from bot.admin.common import Problem, install_problem_handlers
from bot.admin.complaint_pages import router as complaint_pages_router
from bot.admin.document_pages import router as document_pages_router
from bot.admin.files import router as files_router
from bot.admin.notice_pages import router as notice_pages_router
from bot.admin.pages import router as pages_router
from bot.admin.reception_pages import router as reception_pages_router
from bot.admin.rendering import LoginRequired, render
from bot.admin.report_pages import router as report_pages_router
from bot.admin.sms_pages import router as sms_pages_router
from bot.admin.survey_pages import router as survey_pages_router
from bot.config import tile_host
from bot.profile import ABROAD

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; media-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
# Swagger UI sets style attributes; still no inline or foreign script.
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
MAP_PATH = "/staff/complaints/map"


def map_csp(tile_url: str) -> str:
    """The complaints map's policy: the pages' own, with images also from
    exactly the configured tile host (nothing else; no tiles, nothing more)."""
    host = tile_host(tile_url) if tile_url else None
    return CSP.replace("img-src 'self' data:", f"img-src 'self' data: {host}") if host else CSP
DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Klokot admin API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/static/swagger/favicon.png">
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/docs-init.js"></script></body></html>"""


class SecurityHeaders:
    """Pure ASGI (no per-request task overhead on the webhook path)."""

    def __init__(self, app: ASGIApp, map_policy: str = CSP) -> None:
        self.app = app
        self.map_policy = map_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        csp = (DOCS_CSP if path.startswith(("/docs", "/static/swagger"))
               else self.map_policy if path.rstrip("/") == MAP_PATH else CSP)
        private = scope["path"].startswith(("/staff", "/api/"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if private and not any(k.lower() == b"cache-control" for k, _ in headers):
                    # Pages and answers with personal data must not come back from a
                    # shared office PC's cache after signing out.
                    headers.append((b"cache-control", b"no-store"))
                headers += [
                    (b"content-security-policy", csp.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if scope.get("scheme") == "https":
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _error_page(request: Request, problem: Problem) -> Response | None:
    """On the staff pages an error is a page in the officer's language."""
    if not request.url.path.startswith("/staff"):
        return None
    staff = getattr(request.state, "staff_view", None)
    return render(request, request.app.state.runtime, "error.html", staff,
                  status=problem.status, detail=problem.detail)


def mount_staff(app: FastAPI) -> None:
    install_problem_handlers(app, html=_error_page)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/staff/login", status_code=303)

    app.include_router(api_router)
    app.include_router(files_router)
    # Before the pages router, whose /staff/{section} would otherwise answer first.
    app.include_router(reception_pages_router)
    app.include_router(document_pages_router)
    app.include_router(complaint_pages_router)
    app.include_router(notice_pages_router)
    app.include_router(survey_pages_router)
    app.include_router(report_pages_router)
    app.include_router(sms_pages_router)
    app.include_router(pages_router)
    # Swagger UI 5 (OpenAPI 3.1), shipped inside the fastapi-offline package.
    swagger = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/static/swagger", StaticFiles(directory=swagger), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)

    app.add_middleware(SecurityHeaders,
                       map_policy=map_csp(app.state.runtime.settings.map_tile_url))
    _profile_enums_in_schema(app)


def _profile_enums_in_schema(app: FastAPI) -> None:
    """Language, settlement, department and complaint category filters take
    the profile's codes: say so in the schema, so API clients (and
    schemathesis) know the valid values."""
    build = app.openapi
    profile = app.state.runtime.profile
    enums = {"language": list(profile.enabled_locales),
             "settlement": [s.code for s in profile.settlements] + [ABROAD],
             "department": [d.code for d in profile.departments],
             "category": [c.code for c in profile.complaint_categories],
             "topic": [t.code for t in profile.notice_topics]}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "query" and parameter["name"] in enums:
                        parameter["schema"] = {"anyOf": [
                            {"type": "string", "enum": enums[parameter["name"]]},
                            {"type": "null"}]}
        _notice_body_enums(schema, enums, list(profile.enabled_locales))
        _sms_body_enums(schema, enums)
        forward = schema.get("components", {}).get("schemas", {}).get("ForwardIn", {})
        if "department" in forward.get("properties", {}):
            forward["properties"]["department"]["enum"] = enums["department"]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _notice_body_enums(schema: dict[str, Any], enums: dict[str, list[str]],
                       locales: list[str]) -> None:
    """A notice's topic and settlements take the profile's codes, and its
    text is required in every enabled language (other languages are not
    accepted)."""
    components = schema.get("components", {}).get("schemas", {})
    notice = components.get("NoticeIn", {}).get("properties", {})
    if "topic" in notice:
        notice["topic"]["enum"] = enums["topic"]
    for option in notice.get("settlements", {}).get("anyOf", []):
        if option.get("type") == "array":
            option["items"]["enum"] = enums["settlement"]
    text = components.get("NoticeTextIn")
    if text is not None:
        text["properties"] = {
            k: next((o for o in v.get("anyOf", []) if o.get("type") == "string"), v)
            for k, v in text["properties"].items() if k in locales}
        text["required"] = locales


def _sms_body_enums(schema: dict[str, Any], enums: dict[str, list[str]]) -> None:
    """An SMS registration's settlement, language and topics take the
    profile's codes (not `abroad`: the SMS goes to a number at home); so do
    the settlement and language of a booking an officer makes for a citizen
    (either may be left out)."""
    components = schema.get("components", {}).get("schemas", {})
    properties = components.get("RegistrationIn", {}).get("properties", {})
    if "settlement" in properties:
        properties["settlement"]["enum"] = [s for s in enums["settlement"] if s != ABROAD]
    if "language" in properties:
        properties["language"]["enum"] = enums["language"]
    if "topics" in properties:
        properties["topics"]["items"]["enum"] = enums["topic"]
    booking = components.get("BookingForCitizen", {}).get("properties", {})
    for name in ("settlement", "language"):
        if name in booking:
            booking[name].pop("anyOf", None)
            booking[name].update({"anyOf": [{"type": "string", "enum": enums[name]},
                                            {"type": "null"}]})
