"""What /metrics tells an operator about the things that need a person
(#15, item 6), and that the example alert rules watch only what it exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from bot.app import create_app
from bot.clock import FixedClock
from bot.db import Database
from bot.models import DocumentRequest, DocumentStatus, OutboxMessage, OutboxStatus
from bot.outbox.lease import Lease
from tests.factories import make_document_request, make_incoming, make_runtime
from tests.fakes.telegram_api import FakeTelegramAPI

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "klokot-bot.rules.yml"


def scrape(client: TestClient) -> dict[str, float]:
    """Every sample /metrics gives, by its name with labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=make_runtime(db), run_sender=False)) as client:
        yield client


def test_the_oldest_queued_message_s_age_grows_until_it_is_sent(
        db: Database, clock: FixedClock, client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert scrape(client)["klokot_outbox_oldest_queued_seconds"] == 0
    runtime.engine.handle(make_incoming("/start"))  # the welcome waits in the outbox
    assert scrape(client)["klokot_outbox_oldest_queued_seconds"] == 0
    clock.advance(minutes=6)
    assert scrape(client)["klokot_outbox_oldest_queued_seconds"] == 360
    # a message put off until later (a retry, quiet hours) is not waiting yet
    with db.session() as session:
        session.execute(update(OutboxMessage).values(
            next_attempt_at=clock.now() + timedelta(hours=8)))
    assert scrape(client)["klokot_outbox_oldest_queued_seconds"] == 0
    clock.advance(hours=8, minutes=1)
    assert scrape(client)["klokot_outbox_oldest_queued_seconds"] == 60
    with db.session() as session:
        session.execute(update(OutboxMessage).values(status=OutboxStatus.sent))
    assert scrape(client)["klokot_outbox_oldest_queued_seconds"] == 0


def test_the_lease_gauge_says_whether_any_sender_holds_the_lease(
        db: Database, clock: FixedClock, client: TestClient) -> None:
    assert scrape(client)["klokot_sender_lease_held"] == 0
    other_process = Lease(db, ttl_seconds=15)
    try:
        assert other_process.acquire()
        assert scrape(client)["klokot_sender_lease_held"] == 1
        if db.is_sqlite:  # a holder that stops renewing loses it when it expires
            clock.advance(seconds=16)
            assert scrape(client)["klokot_sender_lease_held"] == 0
            assert other_process.acquire()
            assert scrape(client)["klokot_sender_lease_held"] == 1
    finally:
        other_process.release()
    assert scrape(client)["klokot_sender_lease_held"] == 0


def test_overdue_document_requests_are_counted_until_decided(
        db: Database, clock: FixedClock, client: TestClient) -> None:
    reference = make_document_request(db)
    make_document_request(db)
    assert scrape(client)["klokot_document_requests_overdue"] == 0
    clock.advance(days=40)  # past any legal deadline, extension included
    assert scrape(client)["klokot_document_requests_overdue"] == 2
    with db.session() as session:
        session.execute(update(DocumentRequest).where(DocumentRequest.reference == reference)
                        .values(status=DocumentStatus.granted))
    assert scrape(client)["klokot_document_requests_overdue"] == 1


def test_handler_failures_are_counted(db: Database, client: TestClient,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    before = scrape(client).get('klokot_handler_errors_total{channel="terminal"}', 0)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in a flow")

    monkeypatch.setattr(runtime.engine, "_handle_in_transaction", broken)
    assert runtime.engine.handle(make_incoming("/start")).failed
    assert scrape(client)['klokot_handler_errors_total{channel="terminal"}'] == before + 1


def test_telegram_s_webhook_errors_are_exported(db: Database) -> None:
    last_error = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    with FakeTelegramAPI() as tg:
        tg.set_result("getWebhookInfo", {
            "url": "https://bot.klokot.example/webhooks/telegram",
            "has_custom_certificate": False, "pending_update_count": 17,
            "last_error_date": int(last_error.timestamp()),
            "last_error_message": "Connection timed out"})
        runtime = make_runtime(db, telegram_bot_token=tg.token, telegram_api_url=tg.url)
        with TestClient(create_app(runtime=runtime, run_sender=False)) as client:
            samples = scrape(client)
    assert samples["klokot_telegram_webhook_info_up"] == 1
    assert samples["klokot_telegram_webhook_pending_updates"] == 17
    assert samples["klokot_telegram_webhook_last_error_timestamp_seconds"] == (
        last_error.timestamp())


def test_an_unreachable_telegram_is_reported_not_a_failed_scrape(db: Database) -> None:
    runtime = make_runtime(db, telegram_bot_token="123:abc",
                           telegram_api_url="http://127.0.0.1:9", platform_timeout_seconds=1)
    with TestClient(create_app(runtime=runtime, run_sender=False)) as client:
        assert scrape(client)["klokot_telegram_webhook_info_up"] == 0


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_metric_an_alert_rule_names_is_exported(client: TestClient) -> None:
    exported = {family.name for family in text_string_to_metric_families(
        client.get("/metrics").text)}
    # a counter's family is named without _total; a rule names its samples
    exported |= {f"{name}_total" for name in exported}
    rules = _rules()
    assert {rule["alert"] for rule in rules} >= {
        "KlokotOutboxStuck", "KlokotSenderLeaseNotHeld", "KlokotHandlerFailures",
        "KlokotDocumentRequestsOverdue", "KlokotTelegramWebhookErrors"}
    for rule in rules:
        names = set(re.findall(r"\bklokot_[a-z_]+", rule["expr"]))
        assert names or "up{" in rule["expr"], rule["alert"]
        assert names <= exported, (rule["alert"], names - exported)
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(["promtool", "check", "rules", str(RULES)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_each_alert_fires_on_its_state_and_only_then() -> None:
    """tests/prometheus/klokot-bot.rules.test.yml: series over time, and the
    alerts promtool must (and must not) see at each moment — e.g. a Telegram
    that never reported an error (timestamp 0) raises no webhook alert."""
    unit = Path(__file__).resolve().parent / "prometheus" / "klokot-bot.rules.test.yml"
    result = subprocess.run(["promtool", "test", "rules", unit.name], cwd=unit.parent,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
