"""Secrets stay out of the logs (security review, item 19): a replayed log
line must not download a citizen's data file or read a calendar feed."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import logs
from bot.db import Database
from tests.factories import make_runtime
from tests.fakes.telegram_api import FakeTelegramAPI, tg_command_update, tg_message_update


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


# --- #15, item 6: JSON lines and a request id on every line of a request ------

SECRET = "logs-test-secret-0123456789"
SAID = "my neighbour Petar Petrović owes me 300 euros"  # what a citizen wrote


@pytest.fixture
def captured() -> Iterator[Callable[[logging.Formatter], io.StringIO]]:
    """Lines the root logger writes through the app's filters, in a format."""
    root = logging.getLogger()
    added: list[logging.Handler] = []
    level = root.level

    def capture(formatter: logging.Formatter) -> io.StringIO:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.addFilter(logs.RedactSecrets())
        handler.addFilter(logs.WithRequestId())
        handler.setFormatter(formatter)
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        added.append(handler)
        return stream

    yield capture
    for handler in added:
        root.removeHandler(handler)
    root.setLevel(level)


def _post_update(db: Database, tg: FakeTelegramAPI, update: dict[str, Any],
                 headers: dict[str, Any] | None = None) -> httpx.Response:
    from fastapi.testclient import TestClient

    from bot.app import create_app

    runtime = make_runtime(db, telegram_bot_token=tg.token, telegram_api_url=tg.url,
                           telegram_webhook_secret=SECRET)
    with TestClient(create_app(runtime=runtime, run_sender=False)) as client:
        return client.post("/webhooks/telegram", json=update, headers={
            "X-Telegram-Bot-Api-Secret-Token": SECRET, **(headers or {})})


@pytest.fixture
def tg() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as server:
        yield server


def test_json_lines_carry_time_level_logger_message_and_the_request_id(
        db: Database, tg: FakeTelegramAPI,
        captured: Callable[[logging.Formatter], io.StringIO]) -> None:
    stream = captured(logs.JsonLines())
    response = _post_update(db, tg, tg_message_update(1, 4242, SAID))
    assert response.status_code == 200
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "the webhook logged nothing"
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)
    [handled] = [line for line in lines if line["logger"] == "bot.entry.webhooks"]
    request_id = response.headers["X-Request-ID"]
    assert handled["request_id"] == request_id and len(request_id) >= 16
    assert handled["level"] == "INFO" and "telegram update 1 (text)" in handled["message"]
    assert SAID not in stream.getvalue() and "Petar" not in stream.getvalue()


def test_a_sane_incoming_request_id_is_kept_and_a_bad_one_replaced(
        db: Database, tg: FakeTelegramAPI,
        captured: Callable[[logging.Formatter], io.StringIO]) -> None:
    stream = captured(logs.JsonLines())
    kept = _post_update(db, tg, tg_command_update(1, 4242), {"X-Request-ID": "proxy-7f.3_a"})
    assert kept.headers["X-Request-ID"] == "proxy-7f.3_a"
    for bad in ("two words", "x" * 65, '"}{"level": "CRITICAL', "ü-ümlaut", ""):
        replaced = _post_update(db, tg, tg_command_update(2, 4243),
                                {"X-Request-ID": bad.encode("latin-1")})
        assert replaced.headers["X-Request-ID"] != bad
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"])
    ids = {json.loads(line).get("request_id") for line in stream.getvalue().splitlines()}
    assert "proxy-7f.3_a" in ids
    assert not {"two words", "x" * 65} & ids


def test_text_lines_show_the_request_id(
        db: Database, tg: FakeTelegramAPI,
        captured: Callable[[logging.Formatter], io.StringIO]) -> None:
    stream = captured(logging.Formatter(logs.TEXT_FORMAT))
    response = _post_update(db, tg, tg_message_update(1, 4242, SAID))
    request_id = response.headers["X-Request-ID"]
    assert f"bot.entry.webhooks [req={request_id}]: telegram update 1" in stream.getvalue()
    assert SAID not in stream.getvalue()
    logging.getLogger("klokot-test").warning("outside any request")
    assert "outside any request" in stream.getvalue()
    assert "[req=" not in stream.getvalue().splitlines()[-1]


def test_a_bad_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.uvicorn_config("info", "xml")


def test_serve_writes_json_lines_and_the_access_line_shares_the_request_id(
        db: Database, tg: FakeTelegramAPI, data_dir: Path) -> None:
    """A real `klokot-bot serve` with LOG_FORMAT=json: every line is JSON, and
    the webhook's own line and uvicorn's access line carry the id the
    response's X-Request-ID header gives back."""
    from tests.test_processes import SECRET as PROCESS_SECRET
    from tests.test_processes import env_for, free_port, stop, wait_until_serving

    port = free_port()
    env = env_for(db, tg, data_dir)
    env.update(LOG_FORMAT="json", LOG_LEVEL="INFO")
    # uvicorn writes its access lines to stdout, everything else to stderr
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(server, base)
        response = httpx.post(f"{base}/webhooks/telegram", json=tg_message_update(7, 4242, SAID),
                              headers={"X-Telegram-Bot-Api-Secret-Token": PROCESS_SECRET})
        assert response.status_code == 200
    finally:
        stop([server])
    assert server.stdout is not None
    output = server.stdout.read().decode()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    request_id = response.headers["X-Request-ID"]
    mine = [line for line in lines if line.get("request_id") == request_id]
    assert {line["logger"] for line in mine} == {"bot.entry.webhooks", "uvicorn.access"}, output
    [access] = [line for line in mine if line["logger"] == "uvicorn.access"]
    assert access["method"] == "POST" and access["path"] == "/webhooks/telegram"
    assert access["status"] == 200
    assert SAID not in output


def test_an_unhandled_error_s_500_carries_the_request_id(db: Database) -> None:
    """The id is outside the framework's own error handler: the 500 a bug
    produces names the id an operator finds its traceback by."""
    from fastapi.testclient import TestClient

    from bot.app import create_app

    app = create_app(runtime=make_runtime(db), run_sender=False)

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken", headers={"X-Request-ID": "trace-500"})
        assert response.status_code == 500
        assert response.headers["X-Request-ID"] == "trace-500"
        assert client.get("/healthz").headers["X-Request-ID"] != "trace-500"


def test_a_mistyped_log_format_is_named_without_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main
    from bot.config import get_settings

    monkeypatch.setenv("LOG_FORMAT", "xml")
    get_settings.cache_clear()
    try:
        assert main(["migrate"]) == 2
    finally:
        get_settings.cache_clear()
    error = capsys.readouterr().err
    assert "LOG_FORMAT: Input should be 'text' or 'json'" in error
    assert "Traceback" not in error
