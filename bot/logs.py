"""Logging that keeps secrets out of the log: the access log shows no signed
file links, calendar feed tokens, bot tokens or token parameters (anyone who
reads a log could replay them), and the platform libraries never log at
DEBUG, where they print the bot token and every message's text."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

# Libraries that log requests with tokens in the URL, or bodies with citizens' texts.
PLATFORM_LOGGERS = ("httpx", "httpcore", "telegram", "viberbot", "hpack", "urllib3",
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


def configure(level: str) -> None:
    """The process's logging: `level` for our own loggers, WARNING at least
    for the platform libraries whatever `level` says, secrets redacted."""
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
    for name in PLATFORM_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def uvicorn_config(level: str) -> dict[str, Any]:
    """uvicorn's own logging configuration with the redacting filter on its
    access and error handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": RedactSecrets}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("redact")
    for logger in config.get("loggers", {}).values():
        logger["level"] = level.upper()
    return config
