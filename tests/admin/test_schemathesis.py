"""Schemathesis over /openapi.json with a staff token: no 500s, and every
answer matches the schema it claims (status codes, content types, bodies)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from bot.app import create_app
from bot.db import Database
from tests.admin.conftest import StaffClient
from tests.admin.test_notices_api import RULE_BODIES as NOTICE_RULE_BODIES
from tests.admin.test_notices_api import rules_are_named as notice_rules_are_named
from tests.admin.test_reception_api import RULE_BODIES as RECEPTION_RULE_BODIES
from tests.admin.test_reception_api import rules_are_named as reception_rules_are_named
from tests.admin.test_sms_staff import RULE_BODIES as SMS_RULE_BODIES
from tests.admin.test_sms_staff import rules_are_named as sms_rules_are_named
from tests.factories import make_citizen, make_runtime, make_staff

# A survey definition is taken as a free JSON object so that the service can
# name every problem in it; a schema-valid body it finds wrong is, by issue
# #7's words, a validation error: 422 `invalid_definition` with the fields in
# `errors`. For these operations only, and only with that code, a 422 to a
# schema-valid body is right; any other 422 is still a failure.
DEFINITION_BODIES = {"POST /api/v1/surveys", "PUT /api/v1/surveys/{slug}"}


def definition_problems_are_named(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code == 422:
        body = json.loads(response.content)
        assert body["code"] == "invalid_definition" and body["errors"], body
        assert all(error["field"] and error["msg"] for error in body["errors"]), body
    return None


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
    # Logout (here or everywhere) would end the token every other call relies on.
    operations = [op for op in operations if not op.path.startswith("/api/v1/auth/logout")]
    assert {op.path for op in operations} >= {"/api/v1/me", "/api/v1/citizens",
                                               "/api/v1/audit", "/api/v1/auth/token"}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            if case.operation.label in DEFINITION_BODIES:
                response = case.call_and_validate(
                    headers=headers, excluded_checks=[positive_data_acceptance],
                    additional_checks=[definition_problems_are_named])
            elif case.operation.label in NOTICE_RULE_BODIES:  # a notice's rules: 422 named
                response = case.call_and_validate(
                    headers=headers, excluded_checks=[positive_data_acceptance],
                    additional_checks=[notice_rules_are_named])
            elif case.operation.label in RECEPTION_RULE_BODIES:  # a day's rules: 422 named
                response = case.call_and_validate(
                    headers=headers, excluded_checks=[positive_data_acceptance],
                    additional_checks=[reception_rules_are_named])
            elif case.operation.label in SMS_RULE_BODIES:  # a registration's rules: named
                response = case.call_and_validate(
                    headers=headers, excluded_checks=[positive_data_acceptance],
                    additional_checks=[sms_rules_are_named])
            else:
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
