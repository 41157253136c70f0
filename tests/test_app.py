"""The web app's own endpoints: health, metrics, and that it starts with no tokens."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.config import Settings
from bot.db import Database
from bot.runtime import build_runtime
from tests.factories import make_incoming, make_runtime, make_settings


def test_starts_without_any_channel_and_says_so(db: Database,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    runtime = build_runtime(make_settings(db.url), db=db)
    assert runtime.providers == {}
    assert "Telegram disabled" in caplog.text and "Viber disabled" in caplog.text
    with TestClient(create_app(runtime=runtime)) as client:
        assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
        # A channel that is not configured has no webhook.
        assert client.post("/webhooks/telegram", json={}).status_code == 404


def test_health_reports_an_unreachable_database() -> None:
    dead = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    runtime = build_runtime(make_settings(dead.url), db=dead, quiet=True)
    with TestClient(create_app(runtime=runtime)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_metrics_for_loopback_or_with_token(db: Database) -> None:
    runtime = make_runtime(db, metrics_token="metrics-token-123")
    app = create_app(runtime=runtime)
    runtime.engine.handle(make_incoming("/start"))
    with TestClient(app, client=("203.0.113.9", 5000)) as outsider:
        assert outsider.get("/metrics").status_code == 403
        assert outsider.get("/metrics", headers={"Authorization": "Bearer wrong"}
                            ).status_code == 403
        body = outsider.get("/metrics",
                            headers={"Authorization": "Bearer metrics-token-123"}).text
    assert 'klokot_updates_received_total{channel="terminal"}' in body
    assert "klokot_update_handling_seconds_bucket" in body
    assert 'klokot_outbox_current{channel="terminal",status="queued"} 1.0' in body
    with TestClient(app, client=("127.0.0.1", 5000)) as local:
        assert local.get("/metrics").status_code == 200


def test_generated_secret_key_is_kept_private(tmp_path: object) -> None:
    from pathlib import Path

    data = Path(str(tmp_path))
    settings = Settings(_env_file=None, data_dir=data, secret_key=None)
    key = settings.resolved_secret_key()
    assert len(key) >= 32
    assert (data / "secret_key").stat().st_mode & 0o777 == 0o600
    assert settings.resolved_secret_key() == key  # kept, not regenerated


def test_placeholder_secret_key_is_refused() -> None:
    settings = Settings(_env_file=None, secret_key="changeme")
    with pytest.raises(ValueError, match="placeholder"):
        settings.resolved_secret_key()


def test_the_survey_key_is_generated_apart_from_the_secret_key(tmp_path: object) -> None:
    """One answer per person rests on the survey key (#13, item 14): a new
    SECRET_KEY must not reset it, so it is its own key, kept in its own file."""
    from pathlib import Path

    data = Path(str(tmp_path))
    settings = Settings(_env_file=None, data_dir=data, secret_key=None, survey_key=None)
    key = settings.resolved_survey_key()
    assert len(key) >= 32 and key != settings.resolved_secret_key()
    assert (data / "survey_key").stat().st_mode & 0o777 == 0o600
    rotated = Settings(_env_file=None, data_dir=data, secret_key="a-new-secret-key-0123456789")
    assert rotated.resolved_survey_key() == key  # kept whatever SECRET_KEY becomes
    with pytest.raises(ValueError, match="placeholder"):
        Settings(_env_file=None, survey_key="changeme").resolved_survey_key()


def test_two_processes_generating_the_keys_at_once_agree(tmp_path: object) -> None:
    """The web process and the worker start together; with SECRET_KEY set, both
    generate the survey key: they must end up with the same one."""
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    data = Path(str(tmp_path))
    settings = [Settings(_env_file=None, data_dir=data, survey_key=None) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda s: s.resolved_survey_key(), settings))
    assert len(keys) == 1 and sorted(p.name for p in data.iterdir()) == ["survey_key"]
