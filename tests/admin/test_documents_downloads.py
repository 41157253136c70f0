"""What staff asked for on document requests (#18, item 4): an uploaded file
downloads from the request's page (signed-in, right department only), and
the queue exports as XLSX beside CSV — the same rows, columns and
personal-data rule, opened here with openpyxl."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from bot.db import utcnow
from bot.models import DocumentFile
from bot.models.staff import AuditEntry
from tests.admin.conftest import StaffClient
from tests.admin.test_documents_api import API, PDF, client  # noqa: F401
from tests.admin.test_pages import sign_in
from tests.factories import make_document_request, make_staff

PAGE = "/staff/documents"


def upload(client: StaffClient, reference: str, name: str = "Dozvola 2025.pdf",  # noqa: F811
           data: bytes = PDF) -> int:
    info = client.as_role("info_office", username=f"up-{reference}")
    answer = client.post(f"{API}/{reference}/files", headers=info,
                         files={"file": (name, data, "application/pdf")})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def forward(client: StaffClient, reference: str, department: str) -> None:  # noqa: F811
    info = client.as_role("info_office", username=f"fw-{reference}")
    assert client.post(f"{API}/{reference}/forward", headers=info,
                       json={"department": department}).status_code == 200


def test_an_uploaded_file_downloads_from_the_requests_page(client: StaffClient) -> None:  # noqa: F811
    reference = make_document_request(client.db)
    file_id = upload(client, reference)
    make_staff(client.db, "info1", "info_office")
    sign_in(client, "info1")
    page = client.get(f"{PAGE}/{reference}")
    link = f'href="{PAGE}/{reference}/files/{file_id}"'
    assert link in page.text
    got = client.get(f"{PAGE}/{reference}/files/{file_id}")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert 'filename*=utf-8\'\'Dozvola%202025.pdf' in got.headers["content-disposition"]
    assert "no-store" in got.headers["cache-control"]
    with client.db.read_session() as session:
        entry = session.scalar(select(AuditEntry).where(
            AuditEntry.action == "documents.file.download"))
        assert entry is not None and entry.object_id == reference
    # the API answers the same to a token
    token = client.as_role("viewer")
    assert client.get(f"{API}/{reference}/files/{file_id}", headers=token).content == PDF


def test_a_download_needs_sign_in_and_the_right_department(client: StaffClient) -> None:  # noqa: F811
    own = make_document_request(client.db)
    other = make_document_request(client.db)
    forward(client, own, "agriculture")
    forward(client, other, "cadastre_urbanism")
    own_file, other_file = upload(client, own), upload(client, other)
    # signed out: to the sign-in page, not the file
    answer = client.get(f"{PAGE}/{own}/files/{own_file}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/login"
    assert client.get(f"{API}/{own}/files/{own_file}").status_code == 401
    make_staff(client.db, "agri1", "department", "agriculture")
    sign_in(client, "agri1")
    assert client.get(f"{PAGE}/{own}/files/{own_file}").content == PDF
    # another department's request, or a file of another request: not found
    for path in (f"{PAGE}/{other}/files/{other_file}", f"{PAGE}/{own}/files/{other_file}",
                 f"{PAGE}/{own}/files/999999", f"{PAGE}/{own}/files/0",
                 f"{PAGE}/{own}/files/x", f"{PAGE}/D-2026-99999/files/{own_file}"):
        got = client.get(path)
        assert got.status_code in (404, 422), path
        assert PDF not in got.content
    headers = client.as_role("department", "agriculture", username="agri2")
    assert client.get(f"{API}/{other}/files/{other_file}", headers=headers).status_code == 404
    # a file gone from the disk is not found, not a 500
    with client.db.session() as session:
        row = session.get(DocumentFile, own_file)
        assert row is not None
        row.path = row.path + ".gone"
    assert client.get(f"{PAGE}/{own}/files/{own_file}").status_code == 404


def test_the_queue_downloads_as_xlsx_with_the_csvs_rows(client: StaffClient) -> None:  # noqa: F811
    late = make_document_request(client.db, registered_at=utcnow() - timedelta(days=12),
                                 description="=HYPERLINK(\"http://evil\")")
    fresh = make_document_request(client.db, full_name="Jovana Petrović")
    make_staff(client.db, "info1", "info_office")
    sign_in(client, "info1")
    queue = client.get(PAGE)
    assert 'href="/api/v1/document-requests.xlsx"' in queue.text
    filtered = client.get(PAGE, params={"overdue": "yes"})
    assert 'href="/api/v1/document-requests.xlsx?overdue=true"' in filtered.text
    info = client.as_role("info_office", username="info2")
    answer = client.get(f"{API}.xlsx", headers=info)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert ".xlsx" in answer.headers["content-disposition"]
    book = load_workbook(io.BytesIO(answer.content))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    csv_header = client.get(f"{API}.csv", headers=info).content.decode("utf-8-sig")
    assert ",".join(str(name) for name in header) == csv_header.splitlines()[0]
    by_reference = {row[0]: dict(zip(header, row, strict=True)) for row in body}
    assert set(by_reference) == {late, fresh}
    assert by_reference[late]["overdue"] == "yes" and by_reference[fresh]["overdue"] == "no"
    assert by_reference[fresh]["full_name"] == "Jovana Petrović"
    assert isinstance(by_reference[late]["registered_at"], datetime)
    # a citizen's text is never a formula in the workbook
    cell = next(c for c in book.worksheets[0].iter_rows(min_row=2) if c[0].value == late)
    description = cell[header.index("description")]
    assert description.data_type == "s" and not str(description.value).startswith("=")
    # filters and roles as for the CSV: a viewer's workbook has no personal columns
    overdue = load_workbook(io.BytesIO(client.get(f"{API}.xlsx", headers=info,
                                                  params={"overdue": "true"}).content))
    assert [r[0] for r in overdue.worksheets[0].iter_rows(min_row=2, values_only=True)] == [late]
    viewer = load_workbook(io.BytesIO(client.get(
        f"{API}.xlsx", headers=client.as_role("viewer")).content))
    viewer_header = next(viewer.worksheets[0].iter_rows(values_only=True))
    assert "full_name" not in viewer_header and "description" not in viewer_header
    assert client.get(f"{API}.xlsx", headers=info,
                      params={"status": "nonsense"}).status_code == 422
    # the page's link works with the page's session cookie, and nothing without
    assert client.get(f"{API}.xlsx").status_code == 200
    client.cookies.clear()
    assert client.get(f"{API}.xlsx").status_code == 401
    with client.db.read_session() as session:
        details = session.scalars(select(AuditEntry.detail).where(
            AuditEntry.action == "documents.export")).all()
    assert any(d and d.startswith("xlsx, 2 rows") for d in details)
