"""`klokot-bot doctor`: is this installation right? One line per check
(✓ fine, ✗ wrong with its fix, – not configured), exit 1 on any ✗.

Every check catches its own failure and reports it as ✗ with the reason, so
an operator of a half-configured server reads what to fix, never a traceback.
The platform calls go through the channel providers (`webhook_status`), the
same clients the sender uses.
"""

from __future__ import annotations

import asyncio
import stat
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bot.channels.base import WebhookStatus
from bot.config import PLACEHOLDER_SECRETS, Settings
from bot.db import Database, utcnow
from bot.migrate import current, heads
from bot.models import OutboxMessage, OutboxStatus
from bot.outbox import lease
from bot.profile import load_profile
from bot.runtime import sms_provider, telegram_provider, viber_provider

OK, FAIL, SKIP = "ok", "fail", "skip"
MARKS = {OK: "✓", FAIL: "✗", SKIP: "–"}
PLAIN_MARKS = {OK: "+", FAIL: "x", SKIP: "-"}  # a terminal that cannot show ✓
OLDEST_QUEUED = timedelta(minutes=5)  # older than this: the sender is not sending
CLOCK_TOLERANCE = timedelta(seconds=5)
WEBHOOK_ERROR_RECENT = timedelta(hours=1)
PENDING_UPDATES_LIMIT = 100
PLATFORM_SECONDS = 10.0


@dataclass(frozen=True)
class Finding:
    state: str  # OK, FAIL or SKIP
    text: str
    fix: str | None = None


def ok(text_: str) -> Finding:
    return Finding(OK, text_)


def fail(text_: str, fix: str) -> Finding:
    return Finding(FAIL, text_, fix)


def skip(text_: str) -> Finding:
    return Finding(SKIP, text_)


# --- settings -----------------------------------------------------------------

def check_secret_key(settings: Settings) -> Finding:
    return _check_key(settings.secret_key, "SECRET_KEY", settings.data_dir / "secret_key",
                      "links already sent stay valid and every process signs with the same key")


def check_survey_key(settings: Settings) -> Finding:
    """A generated survey key lives on one machine: a second web machine, or a
    restore onto a new one, would not recognise who already answered and let
    everyone answer every open survey again."""
    return _check_key(settings.survey_key, "SURVEY_KEY", settings.data_dir / "survey_key",
                      "every machine recognises who already answered an open survey")


def _check_key(key: str | None, name: str, kept: Path, why_keep: str) -> Finding:
    generate = (f"set {name} in the environment file to a random value, e.g. the output of "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'")
    if not key:
        if kept.exists():
            return fail(f"{name} is not set (a key generated into {kept} is used, "
                        "which only this machine knows)",
                        f"set {name} to the content of {kept}, so {why_keep}")
        return fail(f"{name} is not set", generate)
    if key in PLACEHOLDER_SECRETS or len(key) < 16:
        return fail(f"{name} is a placeholder or shorter than 16 characters", generate)
    return ok(f"{name} is set")


def check_public_url(settings: Settings) -> Finding:
    url = settings.public_url
    if not url:
        return fail("PUBLIC_URL is not set: the platforms have no address to call",
                    "set PUBLIC_URL to the bot's https address, e.g. https://bot.klokot.example")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return fail(f"PUBLIC_URL {url} is not an https address (Telegram and Viber call "
                    "only https webhooks)",
                    "put the bot behind HTTPS (docs/deploy.md) and set "
                    f"PUBLIC_URL=https://{parts.hostname or 'your.domain'}")
    return ok(f"PUBLIC_URL is {url}")


# --- directories ----------------------------------------------------------------

def check_directory(name: str, path: Path) -> Finding:
    """Writable by the service, and not readable or writable by other users
    (it holds citizens' data)."""
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), Path("/"))
        if parent.is_dir() and _writable(parent):
            return ok(f"{name} {path} does not exist yet; it is made (0700) on first use")
        return fail(f"{name} {path} does not exist and cannot be made in {parent}",
                    f"mkdir -m 0700 -p {path} && chown <service user> {path}")
    if not path.is_dir():
        return fail(f"{name} {path} is not a directory",
                    f"move the file away or point {name} elsewhere, then "
                    f"mkdir -m 0700 -p {path}")
    if not _writable(path):
        return fail(f"{name} {path} is not writable by this user",
                    f"chown <service user> {path} && chmod 0700 {path}")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o007:
        return fail(f"{name} {path} is open to every user on this machine (mode {mode:04o})",
                    f"chmod o-rwx {path}")
    return ok(f"{name} {path} is writable, mode {mode:04o}")


def _writable(path: Path) -> bool:
    """Tried for real: `os.access` says yes to root on a read-only mount."""
    probe = path / f".doctor-{uuid.uuid4().hex[:8]}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


# --- database -------------------------------------------------------------------

def open_database(settings: Settings) -> tuple[Database | None, Finding]:
    url = settings.database_url
    where = _where(url)
    try:
        if settings.is_sqlite:
            database = make_url(url).database
            if database and database != ":memory:" and not Path(database).exists():
                return None, fail(f"the database {where} does not exist",
                                  "klokot-bot migrate (it creates and upgrades the database)")
        db = Database(url)
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return None, fail(f"the database {where} is not reachable: {_reason(exc)}",
                          "check DATABASE_URL and that the database server runs and "
                          "accepts this user")
    return db, ok(f"the database {where} is reachable")


def check_revision(db: Database) -> Finding:
    with db.engine.connect() as connection:
        at = current(connection)
    head = heads(db.url)
    if not at:
        return fail("the database has no schema yet", "klokot-bot migrate")
    if set(at) == set(head):
        return ok(f"the database is at the latest schema ({', '.join(head)})")
    return fail(f"the database is at revision {', '.join(at)}, this version needs "
                f"{', '.join(head)}", "klokot-bot migrate (take a backup first)")


def check_lease(db: Database) -> Finding:
    held_by = lease.holder(db)
    if held_by is None:
        return fail("no process holds the sender lease: queued messages are not being sent",
                    "start the worker (systemctl start klokot-bot-worker, or "
                    "klokot-bot worker), or serve with OUTBOX_IN_WEB=true")
    return ok(f"the sender lease is held ({held_by})")


def check_outbox(db: Database) -> Finding:
    with db.read_session() as session:
        oldest = session.scalar(select(func.min(OutboxMessage.created_at))
                                .where(OutboxMessage.status == OutboxStatus.queued))
    if oldest is None:
        return ok("no message waits in the outbox")
    age = utcnow() - _aware(oldest)
    if age > OLDEST_QUEUED:
        return fail(f"the oldest queued message has waited {_duration(age)}",
                    "check that the worker runs (the lease above) and the platform "
                    "errors in its log (klokot-bot worker / journalctl -u klokot-bot-worker)")
    return ok(f"the oldest queued message has waited {_duration(age)}")


def check_clock(db: Database) -> Finding:
    with db.engine.connect() as connection:
        if db.is_sqlite:
            value = connection.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
                                       ).scalar()
            theirs = datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
        else:
            value = connection.execute(text("SELECT clock_timestamp()")).scalar()
            if not isinstance(value, datetime):
                raise ValueError(f"the database answered {value!r} for its time")
            theirs = _aware(value)
    offset = utcnow() - theirs
    said = f"{offset.total_seconds():+.1f} s"
    if abs(offset) > CLOCK_TOLERANCE:
        return fail(f"this machine's clock is {said} off the database's",
                    "run time synchronisation on both machines (systemd-timesyncd or chrony)")
    return ok(f"this machine's clock is within {CLOCK_TOLERANCE.seconds} s of the "
              f"database's ({said})")


# --- platforms ------------------------------------------------------------------

async def check_telegram(settings: Settings) -> list[Finding]:
    if not settings.telegram_bot_token:
        return [skip("Telegram: not configured (TELEGRAM_BOT_TOKEN is not set)")]
    provider = telegram_provider(settings, settings.telegram_bot_token)
    try:
        status = await asyncio.wait_for(provider.webhook_status(), PLATFORM_SECONDS)
    except Exception as exc:
        return [fail(f"Telegram: getMe at {settings.telegram_api_url} failed: {_reason(exc)}",
                     "check TELEGRAM_BOT_TOKEN (from @BotFather) and that this machine "
                     "reaches TELEGRAM_API_URL")]
    finally:
        await provider.close()
    findings = [ok(f"Telegram: the token belongs to {status.account}")]
    findings += _webhook_findings("Telegram", status, settings, "telegram")
    if status.pending_updates is not None:
        if status.pending_updates > PENDING_UPDATES_LIMIT:
            findings.append(fail(f"Telegram: {status.pending_updates} updates wait for "
                                 "the webhook", "check that the web processes run and answer "
                                 "(the last error above), and their log"))
        else:
            findings.append(ok(f"Telegram: {status.pending_updates} updates waiting"))
    if status.last_error:
        when = (datetime.fromtimestamp(status.last_error_at, UTC)
                if status.last_error_at else utcnow())
        ago = utcnow() - when
        line = f"Telegram's last webhook error, {_duration(ago)} ago: {status.last_error}"
        if ago <= WEBHOOK_ERROR_RECENT:
            findings.append(fail(line, "make PUBLIC_URL/webhooks/telegram answer from the "
                                 "internet (proxy, certificate, serve running), then "
                                 "klokot-bot set-webhooks"))
        else:
            findings.append(ok(line + " (none since)"))
    return findings


async def check_viber(settings: Settings) -> list[Finding]:
    if not settings.viber_auth_token:
        return [skip("Viber: not configured (VIBER_AUTH_TOKEN is not set)")]
    provider = viber_provider(settings, settings.viber_auth_token)
    try:
        status = await asyncio.wait_for(provider.webhook_status(), PLATFORM_SECONDS)
    except Exception as exc:
        return [fail(f"Viber: get_account_info at {settings.viber_api_url} failed: "
                     f"{_reason(exc)}",
                     "check VIBER_AUTH_TOKEN (from the Viber admin panel) and that this "
                     "machine reaches VIBER_API_URL")]
    finally:
        await provider.close()
    return [ok(f"Viber: the token belongs to {status.account}"),
            *_webhook_findings("Viber", status, settings, "viber")]


async def check_sms(settings: Settings) -> list[Finding]:
    """Twilio: the account the SID and token open, and where deliveries are
    reported (Twilio is told on each send: nothing to set up there)."""
    if not settings.sms_configured:
        return [skip("SMS: not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                     "TWILIO_FROM_NUMBER are not all set)")]
    profile = load_profile(settings.profile_path)
    provider = sms_provider(settings, profile)
    try:
        status = await asyncio.wait_for(provider.webhook_status(), PLATFORM_SECONDS)
    except Exception as exc:
        await provider.close()
        return [fail(f"SMS: Twilio's account at {settings.twilio_api_url} failed: "
                     f"{_reason(exc)}",
                     "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (Twilio console) and "
                     "that this machine reaches TWILIO_API_URL")]
    try:
        incoming: str | None = await asyncio.wait_for(provider.incoming_url(),
                                                      PLATFORM_SECONDS)
        number_error = None
    except Exception as exc:
        incoming, number_error = None, _reason(exc)
    finally:
        await provider.close()
    findings = [ok(f"SMS: Twilio account {status.account}")]
    if not profile.sms.enabled:
        findings.append(fail("SMS: Twilio is configured but the profile's [sms] is not "
                             "enabled, so nothing is sent", "set enabled = true in [sms]"))
    if not settings.public_url or urlsplit(settings.public_url).scheme != "https":
        findings.append(fail("SMS: without an https PUBLIC_URL Twilio cannot post texts and "
                             "delivery reports, and their signatures cannot be checked",
                             "set PUBLIC_URL; in the Twilio console the number's \"A message "
                             "comes in\" webhook is PUBLIC_URL/webhooks/sms (POST)"))
    else:
        wanted = f"{settings.public_url.rstrip('/')}/webhooks/sms"
        findings.append(ok(f"SMS: delivery reports go to {status.url}"))
        if number_error is not None:
            findings.append(fail(f"SMS: the number {settings.twilio_from_number} could not be "
                                 f"read: {number_error}",
                                 "check TWILIO_FROM_NUMBER is a number of this account"))
        elif incoming != wanted:
            findings.append(fail(f"SMS: texts to {settings.twilio_from_number} go to "
                                 f"{incoming or 'nowhere'}, not {wanted}",
                                 "run `klokot-bot set-webhooks`"))
        else:
            findings.append(ok(f"SMS: texts to {settings.twilio_from_number} come to {wanted}"))
    return findings


def _webhook_findings(name: str, status: WebhookStatus, settings: Settings,
                      path: str) -> list[Finding]:
    if not settings.public_url:
        return [fail(f"{name}: the webhook cannot be checked without PUBLIC_URL",
                     "set PUBLIC_URL, then klokot-bot set-webhooks")]
    said = status.url or "not set"
    if urlsplit(settings.public_url).scheme != "https":
        return [fail(f"{name}: the webhook is {said}; it cannot be right while PUBLIC_URL "
                     "is not https", "set PUBLIC_URL to the https address, then "
                     "klokot-bot set-webhooks")]
    expected = f"{settings.public_url.rstrip('/')}/webhooks/{path}"
    if status.url == expected:
        return [ok(f"{name}: the webhook is {expected}")]
    return [fail(f"{name}: the webhook is {said}, expected {expected}",
                 "klokot-bot set-webhooks")]


# --- running it -----------------------------------------------------------------

def run_checks(settings: Settings) -> list[Finding]:
    findings = [
        _guarded("SECRET_KEY", lambda: check_secret_key(settings)),
        _guarded("SURVEY_KEY", lambda: check_survey_key(settings)),
        _guarded("PUBLIC_URL", lambda: check_public_url(settings)),
        _guarded("DATA_DIR", lambda: check_directory("DATA_DIR", settings.data_dir)),
        _guarded("MEDIA_DIR", lambda: check_directory("MEDIA_DIR", settings.media_dir)),
    ]
    db, reached = open_database(settings)
    findings.append(reached)
    database_checks: list[tuple[str, Callable[[Database], Finding]]] = [
        ("the schema", check_revision), ("the sender lease", check_lease),
        ("the outbox", check_outbox), ("the clock", check_clock),
    ]
    if db is None:
        findings += [skip(f"{what}: not checked (no database)") for what, _ in database_checks]
    else:
        try:
            for what, check in database_checks:
                findings.append(_guarded(what, partial(check, db)))
        finally:
            db.dispose()
    findings += asyncio.run(_platforms(settings))
    return findings


async def _platforms(settings: Settings) -> list[Finding]:
    found: list[Finding] = []
    for name, check in (("Telegram", check_telegram), ("Viber", check_viber),
                        ("SMS", check_sms)):
        found += await _guarded_async(name, check(settings))
    return found


def _guarded(what: str, check: Callable[[], Finding]) -> Finding:
    try:
        return check()
    except Exception as exc:
        return fail(f"{what} could not be checked: {_reason(exc)}",
                    "read the reason above; run the doctor again once it is fixed")


async def _guarded_async(what: str, checks: Awaitable[list[Finding]]) -> list[Finding]:
    try:
        return await checks
    except Exception as exc:
        return [fail(f"{what} could not be checked: {_reason(exc)}",
                     "read the reason above; run the doctor again once it is fixed")]


def report(findings: list[Finding], out: TextIO | None = None) -> int:
    """Print the findings (on stdout by default); 1 when any is ✗, else 0."""
    out = out or sys.stdout
    marks = MARKS if _can_print(out, "✓✗–") else PLAIN_MARKS
    for each in findings:
        print(f"{marks[each.state]} {each.text}", file=out)
        if each.fix:
            print(f"    fix: {each.fix}", file=out)
    failures = sum(each.state == FAIL for each in findings)
    print("all checks passed" if not failures else
          f"{failures} problem{'s' if failures > 1 else ''} found", file=out)
    return 1 if failures else 0


def doctor(settings: Settings, out: TextIO | None = None) -> int:
    return report(run_checks(settings), out)


def _can_print(out: TextIO, sample: str) -> bool:
    try:
        sample.encode(getattr(out, "encoding", None) or "utf-8")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def _where(url: str) -> str:
    """The database named without its password."""
    try:
        parsed = make_url(url)
    except Exception:
        return "(DATABASE_URL cannot be read)"
    if parsed.drivername.startswith("sqlite"):
        return f"SQLite {parsed.database or ':memory:'}"
    return f"{parsed.drivername.split('+')[0]} {parsed.host or 'localhost'}" \
           f":{parsed.port or 5432}/{parsed.database or ''}"


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong, with the kind of error."""
    said = str(exc).strip().splitlines()
    first = said[0] if said else ""
    if isinstance(exc, TimeoutError) and not first:
        first = f"no answer within {PLATFORM_SECONDS:.0f} s"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"

