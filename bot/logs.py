"""Logging that keeps secrets out of the log: the access log shows no signed
file links, calendar feed tokens, bot tokens or token parameters (anyone who
reads a log could replay them), and the platform libraries never log at
DEBUG, where they print the bot token and every message's text.

Each line logged while a request is handled carries that request's id (set by
`bot.entry.request_ids`, read from `REQUEST_ID`), uvicorn's access line too:
` [req=…]` in the text format, `"request_id"` with `LOG_FORMAT=json` (one JSON
object per line, for a log shipper)."""

from __future__ import annotations

import copy
import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# The id of the request being handled in this task, None outside one.
REQUEST_ID: ContextVar[str | None] = ContextVar("klokot_request_id", default=None)
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"
# uvicorn's access line, with the request's id at its end.
ACCESS_TEXT_FORMAT = ('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'
                      "%(request_tag)s")

# Libraries that log requests with tokens in the URL, or bodies with citizens' texts.
PLATFORM_LOGGERS = ("httpx", "httpcore", "telegram", "viberbot", "twilio", "hpack", "urllib3",
                    "transitions", "alembic")
HIDDEN = "…"
_SECRETS = (
    (re.compile(r"(/files/)[^\s\"?#]+"), rf"\g<1>{HIDDEN}"),
    (re.compile(r"(/calendar/)[^\s\"?#/]+?(\.ics)"), rf"\g<1>{HIDDEN}\g<2>"),
    (re.compile(r"(/(?:file/)?bot)\d+:[A-Za-z0-9_-]+"), rf"\g<1>{HIDDEN}"),
    (re.compile(r"([?&](?:token|api_key|key|secret|password)=)[^&\s\"#]+", re.I),
     rf"\g<1>{HIDDEN}"),
)


def redact(text: str) -> str:
    """The text with every token-bearing path part and parameter hidden."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Hides secrets in a record's message and in its arguments (uvicorn's
    access log passes the path as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True


class WithRequestId(logging.Filter):
    """Puts the current request's id on the record (`request_id`, and
    `request_tag`: " [req=…]" or "" for the text format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        record.request_id = request_id
        record.request_tag = f" [req={request_id}]" if request_id else ""
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message,
    request_id inside a request, exception when there is one. uvicorn's access
    line adds client, method, path (redacted), http_version and status."""

    ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(
                record.args) == 5:
            line.update(zip(self.ACCESS_FIELDS, record.args, strict=True))
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact(record.exc_text)
        return json.dumps(line, ensure_ascii=False, default=str)


def _checked(log_format: str) -> str:
    log_format = log_format.lower()
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT is {log_format!r}; use one of {', '.join(FORMATS)}")
    return log_format


def configure(level: str, log_format: str = "text") -> None:
    """The process's logging: `level` for our own loggers, WARNING at least
    for the platform libraries whatever `level` says, secrets redacted, each
    line inside a request tagged with its id; JSON lines with `log_format="json"`."""
    log_format = _checked(log_format)
    logging.basicConfig(level=level.upper(), format=TEXT_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
        handler.addFilter(WithRequestId())
        if log_format == "json":
            handler.setFormatter(JsonLines())
    for name in PLATFORM_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def uvicorn_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """uvicorn's own logging configuration with the redacting filter and the
    request id on its access and error handlers, in the chosen format."""
    from uvicorn.config import LOGGING_CONFIG

    log_format = _checked(log_format)
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {}).update(redact={"()": RedactSecrets},
                                            request_id={"()": WithRequestId})
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).extend(["redact", "request_id"])
    for logger in config.get("loggers", {}).values():
        logger["level"] = level.upper()
    formatters = config.setdefault("formatters", {})
    if log_format == "json":
        for name in list(formatters):
            formatters[name] = {"()": JsonLines}
    else:
        if "access" in formatters:
            formatters["access"]["fmt"] = ACCESS_TEXT_FORMAT
        if "default" in formatters:
            formatters["default"]["fmt"] = "%(levelprefix)s %(message)s%(request_tag)s"
    return config
