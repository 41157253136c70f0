"""An app with the Open311 endpoints, a client, keys and approval."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from bot.app import create_app
from bot.db import Database, utcnow
from bot.open311 import api, keys
from bot.services import complaints as service
from tests.factories import make_runtime

V2 = "/open311/v2"


class Open311Client(TestClient):
    db: Database

    def set_now(self, moment: datetime) -> None:
        """The Open311 app's clock reads MOMENT from now on."""
        [mounted] = [route.app for route in self.app.routes  # type: ignore[attr-defined]
                     if isinstance(route, Mount) and route.path == V2]
        assert isinstance(mounted, FastAPI)
        mounted.dependency_overrides[api.current_time] = lambda: moment

    def key(self, name: str = "civic-app") -> str:
        """A new active key for the client NAME."""
        with self.db.session() as session:
            _, key = keys.add_key(session, name, now=utcnow())
        return key

    def file(self, key: str | None, **fields: Any) -> Any:
        """POST requests.json with sensible defaults."""
        data = {"api_key": key, "service_code": "roads", "lat": "42.3697",
                "long": "21.3769",
                "description": "A deep pothole on the main road in Klokot"}
        data.update(fields)
        data = {name: value for name, value in data.items() if value is not None}
        return self.post(f"{V2}/requests.json", data=data)


def publish(db: Database, reference: str, **changes: Any) -> None:
    """An officer approves the complaint, as the staff API will."""
    with db.session() as session:
        complaint = service.by_reference(session, reference)
        assert complaint is not None
        service.publish(session, complaint, by="officer", now=utcnow(), **changes)


@pytest.fixture
def client(db: Database) -> Iterator[Open311Client]:
    with Open311Client(create_app(runtime=make_runtime(db), run_sender=False)) as test_client:
        test_client.db = db
        yield test_client
