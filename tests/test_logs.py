"""Secrets stay out of the logs (security review, item 19): a replayed log
line must not download a citizen's data file or read a calendar feed."""

from __future__ import annotations

import logging

import pytest

from bot import logs
from bot.db import Database
from tests.factories import make_runtime


@pytest.mark.parametrize(("line", "secret"), [
    ('GET /files/x0123456789abcdef0123456789abcdef.1767225600.9f86d081884c7d65 HTTP/1.1',
     "x0123456789abcdef"),
    ("GET /api/v1/reception/calendar/AbC-dEf_123456789012345678901234.ics HTTP/1.1",
     "AbC-dEf_1234"),
    ("POST https://api.telegram.org/bot123456:AAH-secret_token/sendMessage", "AAH-secret"),
    ("GET /metrics?token=metrics-token-123&x=1", "metrics-token-123"),
    ("GET /file/bot123456:AAH-secret_token/photos/file_1.jpg", "AAH-secret"),
])
def test_token_bearing_paths_and_parameters_are_hidden(line: str, secret: str) -> None:
    assert secret not in logs.redact(line)
    # as uvicorn's access log passes them: the path is an argument
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("10.0.0.1:5000", "GET", line, "1.1",
                                                           200), None)
    logs.RedactSecrets().filter(record)
    assert secret not in record.getMessage()


def test_uvicorn_s_handlers_all_redact() -> None:
    config = logs.uvicorn_config("debug")
    assert all("redact" in handler["filters"] for handler in config["handlers"].values())


def test_platform_libraries_stay_at_warning_even_at_debug() -> None:
    """At DEBUG python-telegram-bot and httpx log the bot token and every text."""
    root = logging.getLogger()
    before = root.level, list(root.handlers)
    try:
        logs.configure("DEBUG")
        for name in ("telegram", "httpx", "httpcore", "viberbot"):
            assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING, name
    finally:
        root.setLevel(before[0])
        for handler in root.handlers[:]:
            if handler not in before[1]:
                root.removeHandler(handler)


def test_the_metrics_token_is_taken_from_a_header_only(db: Database) -> None:
    from fastapi.testclient import TestClient

    from bot.app import create_app

    app = create_app(runtime=make_runtime(db, metrics_token="metrics-token-123"),
                     run_sender=False)
    with TestClient(app, client=("203.0.113.9", 5000)) as outsider:
        assert outsider.get("/metrics?token=metrics-token-123").status_code == 403
        assert outsider.get("/metrics", headers={
            "Authorization": "Bearer metrics-token-123"}).status_code == 200
