"""Bodies are limited before anything reads or authenticates them (security
review, item 16): 500 MB to an upload route or the sign-in page was spooled
to disk before the 401/403, 400 MB of JSON grew the process to 1.3 GB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.models.staff import AuditEntry
from tests.admin.conftest import StaffClient
from tests.factories import make_document_request

MIB = 1024 * 1024


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body streamed without a Content-Length, as a client may send it."""
    for _ in range(total // size):
        yield b"x" * size


@pytest.mark.parametrize("path", ["/api/v1/surveys", "/staff/login", "/api/v1/auth/token",
                                  "/open311/v2/requests.json"])
def test_a_stranger_s_large_body_is_refused_without_reading_it(client: StaffClient,
                                                               path: str) -> None:
    declared = client.post(path, content=b"x" * (2 * MIB),
                           headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json()["code"] == "too_large"
    streamed = client.post(path, content=chunks(3 * MIB),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413
    with client.db.read_session() as session:  # no failed sign-in was even recorded
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_uploads_take_more_only_from_a_signed_in_officer(client: StaffClient) -> None:
    reference = make_document_request(client.db)
    path = f"/api/v1/document-requests/{reference}/files"
    pdf = b"%PDF-1.4\n" + b"0" * (3 * MIB)
    stranger = client.post(path, files={"file": ("plan.pdf", pdf, "application/pdf")})
    assert stranger.status_code == 413
    forged = client.post(path, files={"file": ("plan.pdf", pdf, "application/pdf")},
                         headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 413
    officer = client.post(path, files={"file": ("plan.pdf", pdf, "application/pdf")},
                          headers=client.as_role("info_office"))
    assert officer.status_code == 201, officer.text


def test_ordinary_requests_are_untouched(client: StaffClient) -> None:
    headers = client.as_role("admin")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/surveys", headers=headers, json={"slug": "x"}).status_code == 422
