"""An app with the staff side, a client, and signing in as a given role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.db import Database
from tests.factories import PASSWORD, make_runtime, make_staff


class StaffClient(TestClient):
    def token_for(self, username: str, password: str = PASSWORD) -> str:
        response = self.post("/api/v1/auth/token",
                             data={"username": username, "password": password})
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def as_role(self, role: str, department: str | None = None,
                username: str | None = None) -> dict[str, str]:
        """Create an officer with this role and return its Authorization header."""
        name = username or f"{role}-{department or 'x'}".replace("_", "-")
        make_staff(self.db, name, role, department)
        return {"Authorization": f"Bearer {self.token_for(name)}"}

    db: Database


@pytest.fixture
def client(db: Database) -> Iterator[StaffClient]:
    runtime = make_runtime(db, login_delay_seconds=0.0)
    with StaffClient(create_app(runtime=runtime, run_sender=False)) as test_client:
        test_client.db = db
        yield test_client
