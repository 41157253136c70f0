"""Each role's allowed and refused actions, decided in one place."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from bot.admin.deps import require
from bot.app import create_app
from bot.db import Database
from bot.models.staff import Role
from bot.staff.permissions import Access, Capability, access
from tests.admin.conftest import StaffClient
from tests.factories import make_runtime


def probe_app(db: Database) -> StaffClient:
    """The app plus one read and one write route per capability, guarded by `require`."""
    app = create_app(runtime=make_runtime(db, login_delay_seconds=0.0), run_sender=False)
    probe = APIRouter(prefix="/api/v1/probe")
    def ok() -> dict[str, bool]:
        return {"ok": True}

    for capability in Capability:
        probe.add_api_route(f"/{capability.value}", ok, methods=["GET"],
                            dependencies=[Depends(require(capability))])
        probe.add_api_route(f"/{capability.value}", ok, methods=["POST"],
                            dependencies=[Depends(require(capability, write=True))])
    app.include_router(probe)
    client = StaffClient(app)
    client.db = db
    return client


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_each_role_is_let_through_exactly_where_the_table_says(db: Database, role: str) -> None:
    client = probe_app(db)
    department = "cadastre_urbanism" if role == "department" else None
    headers = client.as_role(role, department)
    for capability in Capability:
        level = access(Role(role), capability)
        read = client.get(f"/api/v1/probe/{capability.value}", headers=headers)
        write = client.post(f"/api/v1/probe/{capability.value}", headers=headers)
        assert read.status_code == (200 if level >= Access.read else 403), (role, capability)
        assert write.status_code == (200 if level >= Access.department else 403), (
            role, capability)
        if write.status_code == 403:
            assert write.json()["code"] == "forbidden"


def test_audit_log_is_for_admins_only(client: StaffClient) -> None:
    for role in ("mayor_office", "info_office", "viewer"):
        response = client.get("/api/v1/audit", headers=client.as_role(role))
        assert response.status_code == 403
    assert client.get("/api/v1/audit", headers=client.as_role("admin")).status_code == 200


def test_unauthenticated_requests_never_reach_a_route(db: Database) -> None:
    client = probe_app(db)
    for capability in Capability:
        assert client.get(f"/api/v1/probe/{capability.value}").status_code == 401


_ = TestClient  # the probe client is a TestClient subclass
