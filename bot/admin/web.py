"""Mounting the staff side on the app: API, pages, static files, /docs from
local files, problem answers, and the security headers every answer carries."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.admin.api import api_router
from bot.admin.common import Problem, install_problem_handlers, problem_response
from bot.admin.pages import LoginRequired, render
from bot.admin.pages import router as pages_router

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)
# Swagger UI sets style attributes; still no inline or foreign script.
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
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

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"].startswith(("/docs", "/static/swagger")) else CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
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


def mount_staff(app: FastAPI) -> None:
    install_problem_handlers(app)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        if request.url.path.startswith("/staff"):
            staff = getattr(request.state, "staff", None)
            return render(request, request.app.state.runtime, "error.html", staff,
                          status=exc.status, detail=exc.detail)
        return problem_response(exc.status, exc.code, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/staff/login", status_code=303)

    app.include_router(api_router)
    app.include_router(pages_router)
    # Swagger UI 5 (OpenAPI 3.1), shipped inside the fastapi-offline package.
    swagger = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/static/swagger", StaticFiles(directory=swagger), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)

    app.add_middleware(SecurityHeaders)
