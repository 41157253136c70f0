"""The document requests' staff pages as a browser uses them: sign in, see
the queue with what is overdue highlighted, act through the forms (with
CSRF), upload a file, see the year's summary."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.models import DocumentFile, DocumentRequest, DocumentStatus, OutboxMessage
from tests.admin.conftest import StaffClient
from tests.admin.test_documents_api import PDF, actions, ago, client  # noqa: F401
from tests.admin.test_pages import csrf_of, sign_in
from tests.admin.test_reception_pages import no_inline_code
from tests.factories import make_document_request, make_staff

PAGE = "/staff/documents"


def status_of(client: StaffClient, reference: str) -> DocumentStatus:  # noqa: F811
    with client.db.read_session() as session:
        status = session.scalar(select(DocumentRequest.status).where(
            DocumentRequest.reference == reference))
        assert status is not None
        return status


def test_the_queue_highlights_overdue_and_a_grant_goes_through_the_form(
        client: StaffClient) -> None:  # noqa: F811
    make_staff(client.db, "info1", "info_office")
    late = make_document_request(client.db, registered_at=ago(days=20),
                                 description="Minutes of the 2024 assembly sessions")
    soon = make_document_request(client.db, life_or_liberty=True, registered_at=ago(hours=30))
    dashboard = sign_in(client, "info1")
    assert 'href="/staff/documents"' in dashboard
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    no_inline_code(page.text)
    assert f'<tr id="doc-{late}" class="doc-overdue">' in page.text
    assert f'<tr id="doc-{soon}" class="doc-due-soon">' in page.text
    attention = page.text.split('id="attention"')[1].split("</section>")[0]
    assert late in attention and "overdue since" in attention
    assert "Minutes of the 2024 assembly sessions" in page.text
    assert 'href="/api/v1/document-requests.csv"' in page.text
    assert "documents.list" in actions(client)

    filtered = client.get(PAGE, params={"overdue": "yes"}).text
    assert late in filtered.split('id="queue"')[1] and soon not in filtered.split(
        'id="queue"')[1]

    detail = client.get(f"{PAGE}/{late}")
    assert detail.status_code == 200
    no_inline_code(detail.text)
    assert 'id="to-granted"' in detail.text and 'id="to-extended"' in detail.text
    assert 'name="extension_days" type="number" min="1" max="15"' in detail.text
    assert 'enctype="multipart/form-data"' in detail.text
    assert actions(client)[-1] == "documents.view"
    csrf = csrf_of(detail.text)

    uploaded = client.post(f"{PAGE}/{late}/files", data={"csrf_token": csrf},
                           files={"file": ("minutes.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 200 and "The file was uploaded." in uploaded.text
    assert "minutes.pdf" in uploaded.text
    noted = client.post(f"{PAGE}/{late}/notes",
                        data={"csrf_token": csrf, "text": "Archive has it"})
    assert noted.status_code == 200 and "Archive has it" in noted.text

    granted = client.post(f"{PAGE}/{late}/transition",
                          data={"csrf_token": csrf, "status": "granted",
                                "deliver_files": "true"})
    assert granted.status_code == 200, granted.text
    assert granted.url.path == f"{PAGE}/{late}" and "done=transition" in str(granted.url)
    assert status_of(client, late) is DocumentStatus.granted
    with client.db.read_session() as session:
        assert session.scalars(select(DocumentFile.sent_at)).one() is not None
        bodies = [m.body for m in session.scalars(select(OutboxMessage))]
    assert any(b.get("file") for b in bodies)
    assert {"documents.file", "documents.note", "documents.transition"} <= set(actions(client))

    # a refusal without reason is refused, and nothing changes
    refused = client.post(f"{PAGE}/{soon}/transition",
                          data={"csrf_token": csrf, "status": "refused"})
    assert refused.status_code == 422 and "<html" in refused.text
    assert status_of(client, soon) is DocumentStatus.received

    summary = client.get(f"{PAGE}/summary")
    assert summary.status_code == 200 and 'id="summary"' in summary.text
    no_inline_code(summary.text)


def test_forms_without_csrf_change_nothing(client: StaffClient) -> None:  # noqa: F811
    make_staff(client.db, "info2", "info_office")
    reference = make_document_request(client.db)
    sign_in(client, "info2")
    response = client.post(f"{PAGE}/{reference}/transition",
                           data={"status": "in_progress", "csrf_token": "0" * 64})
    assert response.status_code == 403
    assert status_of(client, reference) is DocumentStatus.received


def test_a_viewer_sees_no_forms_and_no_personal_data(client: StaffClient) -> None:  # noqa: F811
    make_staff(client.db, "viewer1", "viewer")
    reference = make_document_request(client.db, full_name="Marko Jovanović")
    sign_in(client, "viewer1")
    html = client.get(PAGE).text
    assert reference in html and "Marko" not in html
    detail = client.get(f"{PAGE}/{reference}").text
    assert "Marko" not in detail and 'id="to-granted"' not in detail
    assert 'id="upload"' not in detail and 'id="note"' not in detail
    response = client.post(f"{PAGE}/{reference}/transition",
                           data={"csrf_token": csrf_of(html), "status": "granted"})
    assert response.status_code == 403
    assert status_of(client, reference) is DocumentStatus.received


def test_a_department_officer_gets_404_for_another_department(
        client: StaffClient) -> None:  # noqa: F811
    make_staff(client.db, "info1", "info_office")
    make_staff(client.db, "dep1", "department", "agriculture")
    own = make_document_request(client.db, department="assembly")  # the citizen guessed wrong
    other = make_document_request(client.db, department="agriculture")  # never forwarded
    sign_in(client, "info1")
    forward_through_the_page(client, own, "agriculture")
    sign_in(client, "dep1")
    html = client.get(PAGE).text
    assert own in html and other not in html
    assert client.get(f"{PAGE}/{other}").status_code == 404
    response = client.post(f"{PAGE}/{other}/transition",
                           data={"csrf_token": csrf_of(html), "status": "in_progress"})
    assert response.status_code == 404
    detail = client.get(f"{PAGE}/{own}").text
    assert re.search(r'id="to-in_progress"', detail)
    assert 'id="forward-form"' not in detail  # passing it on is the info office's work


def forward_through_the_page(client: StaffClient, reference: str,  # noqa: F811
                             department: str = "agriculture") -> None:
    """The info office's forward form: a select of the profile's departments."""
    detail = client.get(f"{PAGE}/{reference}").text
    no_inline_code(detail)
    form = detail.split('id="forward-form"')[1].split("</form>")[0]
    assert f'<option value="{department}"' in form and 'name="department" required' in form
    assert 'value="assembly" selected' in form  # the citizen's guess comes first
    response = client.post(f"{PAGE}/{reference}/forward", follow_redirects=False,
                           data={"csrf_token": csrf_of(detail), "department": department})
    assert response.status_code == 303
    assert response.headers["location"] == f"{PAGE}/{reference}?done=forward"
    done = client.get(response.headers["location"]).text
    assert "The request was forwarded to the department" in done
    assert 'id="forwarded-department">Agriculture, Forestry and Water Management<' in done


def test_the_forward_form_refuses_an_unknown_department(
        client: StaffClient) -> None:  # noqa: F811
    make_staff(client.db, "info1", "info_office")
    reference = make_document_request(client.db)
    sign_in(client, "info1")
    detail = client.get(f"{PAGE}/{reference}").text
    assert "not forwarded yet" in detail
    response = client.post(f"{PAGE}/{reference}/forward",
                           data={"csrf_token": csrf_of(detail), "department": "nowhere"})
    assert response.status_code == 422
    no_csrf = client.post(f"{PAGE}/{reference}/forward", data={"department": "agriculture"})
    assert no_csrf.status_code == 403
    with client.db.read_session() as session:
        assert session.scalar(select(DocumentRequest.forwarded_department)) is None
