"""Open311 filing has a limit per key (#13, item 11): a client's key files
at most OPEN311_REQUESTS_PER_HOUR (30) service requests in any hour; the
next is answered 429 in GeoReport's error form with Retry-After, and nothing
is stored. Another key is not affected. "Now" comes from the app's clock,
set by the test: no sleeping, no dependence on the hour the test runs at."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from bot.app import create_app
from bot.db import Database
from bot.models import Complaint
from bot.open311 import keys
from tests.factories import make_runtime
from tests.open311.conftest import V2, Open311Client
from tests.open311.test_api import assert_error

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def filed(db: Database, client_name: str) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Complaint).where(
            Complaint.open311_client == client_name)) or 0


def test_the_31st_request_in_an_hour_is_refused_and_not_stored(client: Open311Client,
                                                                db: Database) -> None:
    key, other = client.key("civic-app"), client.key("other-app")
    for minute in range(30):  # one a minute for half an hour
        client.set_now(START + timedelta(minutes=minute))
        assert client.file(key).status_code == 201
    client.set_now(START + timedelta(minutes=30))
    refused = client.file(key, description="One too many: a pothole by the bridge")
    assert_error(refused, 429, "30 service requests per hour")
    assert refused.headers["Retry-After"] == str(30 * 60)  # when the first leaves the hour
    assert filed(db, "civic-app") == 30
    with db.read_session() as session:
        assert not session.scalar(select(Complaint).where(
            Complaint.description.contains("One too many")))

    assert client.file(other).status_code == 201  # another key is unaffected
    assert filed(db, "other-app") == 1

    client.set_now(START + timedelta(minutes=59, seconds=59))
    assert client.file(key).status_code == 429
    client.set_now(START + timedelta(minutes=60))  # the first one is an hour old
    assert client.file(key).status_code == 201
    assert client.file(key).status_code == 429
    assert filed(db, "civic-app") == 31


def test_refused_filings_do_not_count(client: Open311Client, db: Database) -> None:
    key = client.key("careless-app")
    client.set_now(START)
    for _ in range(40):
        assert client.file(key, service_code="no-such-service").status_code == 400
    assert client.file(key).status_code == 201


async def test_requests_sent_at_once_cannot_slip_past_the_limit(db: Database) -> None:
    """Twelve filings at the same moment with a limit of five: five stored."""
    app = create_app(runtime=make_runtime(db, open311_requests_per_hour=5), run_sender=False)
    with db.session() as session:
        _, key = keys.add_key(session, "burst-app", now=START)
    data = {"api_key": key, "service_code": "roads", "lat": "42.3697", "long": "21.3769",
            "description": "A deep pothole on the main road in Klokot"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://open311.test") as http:
        answers = await asyncio.gather(*(http.post(f"{V2}/requests.json", data=data)
                                         for _ in range(12)))
    assert Counter(answer.status_code for answer in answers) == {201: 5, 429: 7}
    assert filed(db, "burst-app") == 5
