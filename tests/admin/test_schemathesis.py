"""Schemathesis over /openapi.json with a staff token: no 500s, and every
answer matches the schema it claims (status codes, content types, bodies)."""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings

from bot.app import create_app
from bot.db import Database
from tests.admin.conftest import StaffClient
from tests.factories import make_citizen, make_runtime, make_staff


def test_the_admin_api_keeps_its_own_contract(db: Database) -> None:
    app = create_app(runtime=make_runtime(db, login_delay_seconds=0.0), run_sender=False)
    make_staff(db, "schema-admin", "admin")
    for i in range(3):
        make_citizen(db, external_id=str(i), full_name=f"Citizen {i}")
    client = StaffClient(app)
    headers = {"Authorization": f"Bearer {client.token_for('schema-admin')}"}

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    # Logout would end the token every other call relies on.
    operations = [op for op in operations if op.path != "/api/v1/auth/logout"]
    assert {op.path for op in operations} >= {"/api/v1/me", "/api/v1/citizens",
                                               "/api/v1/audit", "/api/v1/auth/token"}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=headers)
            seen[(case.operation.label, response.status_code)] += 1

        check()

    for operation in operations:
        codes = {code for label, code in seen if label == operation.label}
        assert codes and 500 not in codes
        if operation.path != "/api/v1/auth/token":  # random passwords: 401 is right there
            assert codes != {401}, f"{operation.label} was only ever refused"
    for label in ("GET /api/v1/me", "GET /api/v1/citizens", "GET /api/v1/audit"):
        assert any(200 <= code < 300 for name, code in seen if name == label), label
