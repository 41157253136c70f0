"""`klokot-bot doctor` as an operator runs it: through the real command line,
against the fake Telegram and Viber APIs, on a whole installation and on
installations with one thing wrong each — every problem named with its fix,
exit 1, and never a traceback."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot import clock as clocks
from bot.cli import main
from bot.clock import FixedClock
from bot.config import get_settings
from bot.db import Database
from bot.migrate import alembic_config, heads, upgrade
from bot.models import OutboxMessage
from bot.outbox.lease import Lease
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.viber_api import FakeViberAPI

PUBLIC = "https://bot.klokot.test"
VIBER_TOKEN = "viber-doctor-token"
SETTINGS = ("DATABASE_URL", "SECRET_KEY", "SURVEY_KEY", "PUBLIC_URL", "DATA_DIR", "MEDIA_DIR",
            "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "TELEGRAM_WEBHOOK_SECRET",
            "VIBER_AUTH_TOKEN", "VIBER_API_URL", "KLOKOT_DATA_DIR")


@dataclass
class Install:
    """An installation done by the recipe: settings in the environment,
    directories 0700, database at head, webhooks set, the worker sending."""

    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    tg: FakeTelegramAPI
    viber: FakeViberAPI
    db: Database
    data_dir: Path
    media_dir: Path

    def set(self, **env: str | None) -> None:
        for name, value in env.items():
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    def doctor(self) -> tuple[int, str]:
        self.capsys.readouterr()
        code = main(["doctor"])
        captured = self.capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return code, captured.out


def failing(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("✗")]


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            db: Database, tmp_path: Path) -> Iterator[Install]:
    data_dir = tmp_path / "data"
    media_dir = data_dir / "media"
    media_dir.mkdir(parents=True, mode=0o700)
    data_dir.chmod(0o700)
    with FakeTelegramAPI() as tg, FakeViberAPI(auth_token=VIBER_TOKEN) as viber:
        for name in SETTINGS:
            monkeypatch.delenv(name, raising=False)
        setup = Install(monkeypatch, capsys, tg, viber, db, data_dir, media_dir)
        setup.set(DATABASE_URL=db.url, SECRET_KEY=secrets.token_urlsafe(32),
                  SURVEY_KEY=secrets.token_urlsafe(32), PUBLIC_URL=PUBLIC,
                  DATA_DIR=str(data_dir), MEDIA_DIR=str(media_dir),
                  TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.url,
                  TELEGRAM_WEBHOOK_SECRET="doctor-webhook-secret-0123",
                  VIBER_AUTH_TOKEN=VIBER_TOKEN, VIBER_API_URL=f"{viber.url}/pa")
        assert main(["set-webhooks"]) == 0
        worker = Lease(db)
        assert worker.acquire()
        try:
            yield setup
        finally:
            worker.release()
            get_settings.cache_clear()


def test_a_whole_installation_is_all_green(install: Install) -> None:
    code, out = install.doctor()
    assert code == 0, out
    assert failing(out) == []
    for said in ("✓ SECRET_KEY is set", "✓ SURVEY_KEY is set", f"✓ PUBLIC_URL is {PUBLIC}",
                 "✓ the database is at the latest schema", "✓ the sender lease is held",
                 "✓ no message waits in the outbox", "✓ this machine's clock is within",
                 "✓ Telegram: the token belongs to @klokot_test_bot",
                 f"✓ Telegram: the webhook is {PUBLIC}/webhooks/telegram",
                 f"✓ Viber: the webhook is {PUBLIC}/webhooks/viber"):
        assert said in out, out
    assert out.rstrip().endswith("all checks passed")


def test_channels_without_credentials_are_not_configured_not_wrong(install: Install) -> None:
    install.set(TELEGRAM_BOT_TOKEN=None, VIBER_AUTH_TOKEN=None)
    code, out = install.doctor()
    assert code == 0, out
    assert "– Telegram: not configured (TELEGRAM_BOT_TOKEN is not set)" in out
    assert "– Viber: not configured (VIBER_AUTH_TOKEN is not set)" in out


@pytest.mark.parametrize("key", [None, "changeme", "short-key"])
def test_a_missing_or_placeholder_secret_key(install: Install, key: str | None) -> None:
    install.set(SECRET_KEY=key)
    code, out = install.doctor()
    assert code == 1
    [line] = failing(out)
    assert "SECRET_KEY" in line
    assert "fix: set SECRET_KEY" in out


def test_a_survey_key_known_only_to_this_machine(install: Install) -> None:
    """A survey key generated into the data directory is lost with the machine:
    a second web machine, or a restore elsewhere, would let everyone answer
    every open survey again."""
    install.set(SURVEY_KEY=None)
    (install.data_dir / "survey_key").write_text(secrets.token_urlsafe(48))
    code, out = install.doctor()
    assert code == 1
    [line] = failing(out)
    assert f"SURVEY_KEY is not set (a key generated into {install.data_dir / 'survey_key'}" in line
    assert f"fix: set SURVEY_KEY to the content of {install.data_dir / 'survey_key'}" in out


def test_an_http_public_url(install: Install) -> None:
    install.set(PUBLIC_URL="http://bot.klokot.test")
    code, out = install.doctor()
    assert code == 1
    assert "✗ PUBLIC_URL http://bot.klokot.test is not an https address" in out
    assert "PUBLIC_URL=https://bot.klokot.test" in out
    # the webhooks are not called right while the address is not https
    assert "✗ Telegram: the webhook is https://bot.klokot.test/webhooks/telegram; it cannot " \
           "be right while PUBLIC_URL is not https" in out


def test_a_database_at_an_old_revision(install: Install, tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    url = f"sqlite:///{tmp_path / 'old.db'}"
    [head] = heads(url)
    previous = ScriptDirectory.from_config(alembic_config(url)).get_revision(head).down_revision
    assert isinstance(previous, str)
    upgrade(url, previous)
    install.set(DATABASE_URL=url)
    code, out = install.doctor()
    assert code == 1
    assert f"✗ the database is at revision {previous}, this version needs {head}" in out
    assert "fix: klokot-bot migrate" in out


def test_an_unreachable_database(install: Install) -> None:
    install.set(DATABASE_URL="postgresql+psycopg://klokot:secret-pw@127.0.0.1:1/klokot")
    code, out = install.doctor()
    assert code == 1
    assert "✗ the database postgresql 127.0.0.1:1/klokot is not reachable" in out
    assert "secret-pw" not in out
    assert "– the sender lease: not checked (no database)" in out
    # the platforms are still checked
    assert f"✓ Telegram: the webhook is {PUBLIC}/webhooks/telegram" in out


def test_a_world_readable_media_directory(install: Install) -> None:
    install.media_dir.chmod(0o755)
    code, out = install.doctor()
    assert code == 1
    assert f"✗ MEDIA_DIR {install.media_dir} is open to every user on this machine " \
           "(mode 0755)" in out
    assert f"fix: chmod o-rwx {install.media_dir}" in out


def test_a_media_directory_that_cannot_be_written(install: Install, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    install.set(MEDIA_DIR=str(blocker))
    code, out = install.doctor()
    assert code == 1
    assert f"✗ MEDIA_DIR {blocker} is not a directory" in out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_read_only_media_directory(install: Install) -> None:
    install.media_dir.chmod(0o500)
    try:
        code, out = install.doctor()
    finally:
        install.media_dir.chmod(0o700)
    assert code == 1
    assert f"✗ MEDIA_DIR {install.media_dir} is not writable" in out


def test_a_telegram_webhook_pointing_elsewhere(install: Install) -> None:
    httpx.post(f"{install.tg.url}/bot{install.tg.token}/setWebhook",
               json={"url": "https://old-server.example/webhooks/telegram"})
    code, out = install.doctor()
    assert code == 1
    [line] = failing(out)
    assert line == ("✗ Telegram: the webhook is https://old-server.example/webhooks/telegram, "
                    f"expected {PUBLIC}/webhooks/telegram")
    assert "fix: klokot-bot set-webhooks" in out


def test_telegram_reports_a_recent_webhook_error(install: Install) -> None:
    install.tg.webhook_error("Wrong response from the webhook: 502 Bad Gateway")
    code, out = install.doctor()
    assert code == 1
    [line] = failing(out)
    assert "Telegram's last webhook error" in line
    assert "Wrong response from the webhook: 502 Bad Gateway" in line


def test_a_bad_telegram_token(install: Install) -> None:
    install.set(TELEGRAM_BOT_TOKEN="999:WRONG")
    code, out = install.doctor()
    assert code == 1
    [line] = failing(out)
    assert line.startswith("✗ Telegram: getMe at")
    assert "fix: check TELEGRAM_BOT_TOKEN" in out


def test_a_viber_webhook_pointing_elsewhere(install: Install) -> None:
    httpx.post(f"{install.viber.url}/pa/set_webhook",
               headers={"X-Viber-Auth-Token": VIBER_TOKEN},
               json={"url": "https://old-server.example/webhooks/viber"})
    code, out = install.doctor()
    assert code == 1
    [line] = failing(out)
    assert line == ("✗ Viber: the webhook is https://old-server.example/webhooks/viber, "
                    f"expected {PUBLIC}/webhooks/viber")


def test_a_message_queued_long_ago(install: Install) -> None:
    earlier = FixedClock(clocks.now() - timedelta(minutes=42))
    with clocks.using(earlier), install.db.session() as session:
        session.add(OutboxMessage(channel="telegram", chat_id="1001", body={"text": "hi"}))
    code, out = install.doctor()
    assert code == 1
    [line] = failing(out)
    assert line == "✗ the oldest queued message has waited 42 min"


def test_a_message_queued_just_now_is_fine(install: Install) -> None:
    with install.db.session() as session:
        session.add(OutboxMessage(channel="telegram", chat_id="1001", body={"text": "hi"}))
    code, out = install.doctor()
    assert code == 0, out
    assert "✓ the oldest queued message has waited" in out


def test_no_sender_holds_the_lease(install: Install, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-worker.db'}"
    upgrade(url)
    install.set(DATABASE_URL=url)
    code, out = install.doctor()
    assert code == 1
    [line] = failing(out)
    assert line.startswith("✗ no process holds the sender lease")


def test_a_terminal_that_cannot_show_check_marks_gets_plain_ones() -> None:
    import io

    from bot.entry.doctor import fail, ok, report, skip

    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    code = report([ok("fine"), fail("wrong", "do this"), skip("absent")], out)
    out.seek(0)
    assert code == 1
    assert out.read().splitlines() == ["+ fine", "x wrong", "    fix: do this", "- absent",
                                       "1 problem found"]


def test_a_clock_off_the_database_s(install: Install) -> None:
    ahead = FixedClock(clocks.now() + timedelta(minutes=3))
    with clocks.using(ahead):
        code, out = install.doctor()
    assert code == 1
    # (on SQLite the worker's lease, by this clock, also looks expired)
    [line] = [each for each in failing(out) if "clock" in each]
    # +180.0 s, less the time the check took on a busy machine (+179.9 s seen)
    offset = re.fullmatch(r"✗ this machine's clock is \+([0-9.]+) s off the database's", line)
    assert offset and 170 <= float(offset[1]) <= 181, line
    assert "fix: run time synchronisation" in out


def test_updates_piling_up_at_telegram(install: Install) -> None:
    for update_id in range(1, 152):
        install.tg.queue_update({"update_id": update_id})
    code, out = install.doctor()
    assert code == 1
    [line] = failing(out)
    assert line == "✗ Telegram: 151 updates wait for the webhook"
