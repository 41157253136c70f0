"""The complaints' staff pages as a browser uses them: sign in, filter the
box, open a complaint with its photos (served to the session only), and act
through the forms (with CSRF): change state, answer, note, assign, publish."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.models import Complaint, ComplaintPhoto, ComplaintStatus, OutboxMessage
from tests.admin.conftest import StaffClient
from tests.admin.test_complaints_api import actions, ago, client, media  # noqa: F401
from tests.admin.test_pages import csrf_of, sign_in
from tests.admin.test_reception_pages import no_inline_code
from tests.factories import make_complaint, make_staff

PAGE = "/staff/complaints"


def row_of(client: StaffClient, reference: str) -> Complaint:  # noqa: F811
    with client.db.read_session() as session:
        found = session.scalar(select(Complaint).where(Complaint.reference == reference))
        assert found is not None
        return found


def photo_ids(client: StaffClient, reference: str) -> list[tuple[int, Path]]:  # noqa: F811
    with client.db.read_session() as session:
        return [(p.id, Path(p.path or "")) for p in session.scalars(
            select(ComplaintPhoto).join(Complaint).where(Complaint.reference == reference)
            .order_by(ComplaintPhoto.position))]


def test_the_box_filters_and_a_complaint_is_worked_through_the_forms(
        client: StaffClient) -> None:  # noqa: F811
    make_staff(client.db, "info1", "info_office")
    lamp = make_complaint(client.db, photos=2, media_dir=media(client), address="By the school",
                          created_at=ago(days=2))
    water = make_complaint(client.db, kind="suggestion", category="water", settlement="mogila",
                           description="A second water tank for Mogila")
    original = make_complaint(client.db, category="roads")
    dashboard = sign_in(client, "info1")
    assert 'href="/staff/complaints"' in dashboard
    complaints_tile = dashboard.split('href="/staff/complaints"')[1].split("</a>")[0]
    assert "Not built yet" not in complaints_tile

    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    no_inline_code(page.text)
    assert f'id="complaint-{lamp}"' in page.text and f'id="complaint-{water}"' in page.text
    lamp_row = page.text.split(f'id="complaint-{lamp}"')[1].split("</tr>")[0]
    assert '<td class="photo-count">2</td>' in lamp_row and "status-open" in lamp_row
    assert "Arta Krasniqi" in lamp_row  # the role sees who sent it
    assert 'href="/api/v1/complaints.csv"' in page.text
    assert "complaints.list" in actions(client)

    filtered = client.get(PAGE, params={"kind": "suggestion", "settlement": "mogila"})
    table = filtered.text.split('id="complaint-list"')[1]
    assert water in table and lamp not in table
    assert 'href="/api/v1/complaints.csv?kind=suggestion&amp;settlement=mogila"' in filtered.text
    with_photo = client.get(PAGE, params={"has_photo": "yes", "created_to": "2999-01-01"})
    table = with_photo.text.split('id="complaint-list"')[1]
    assert lamp in table and water not in table
    bad = client.get(PAGE, params={"category": "nowhere", "created_from": "yesterday"})
    assert bad.status_code == 200 and "A filter value was not understood" in bad.text

    detail = client.get(f"{PAGE}/{lamp}")
    assert detail.status_code == 200
    no_inline_code(detail.text)
    assert "https://www.openstreetmap.org/?mlat=42.3697&amp;mlon=21.3769" in detail.text
    assert "By the school" in detail.text and "<iframe" not in detail.text
    photos = photo_ids(client, lamp)
    for photo_id, _ in photos:
        assert f'<img src="/staff/complaints/{lamp}/photos/{photo_id}"' in detail.text
    shown = client.get(f"{PAGE}/{lamp}/photos/{photos[0][0]}")
    assert shown.status_code == 200 and shown.content == photos[0][1].read_bytes()
    assert shown.headers["cache-control"] == "private, no-store"
    assert 'id="to-in_progress"' in detail.text and 'id="to-duplicate"' in detail.text
    assert 'id="reply"' in detail.text and 'id="publish"' in detail.text
    assert 'id="unpublish"' not in detail.text
    assert actions(client)[-1] == "complaints.view"
    csrf = csrf_of(detail.text)

    moved = client.post(f"{PAGE}/{lamp}/transition",
                        data={"csrf_token": csrf, "to": "in_progress", "text": "On it"})
    assert moved.status_code == 200 and moved.url.path == f"{PAGE}/{lamp}"
    assert "done=transition" in str(moved.url)
    assert "The state was changed" in moved.text
    assert row_of(client, lamp).status is ComplaintStatus.in_progress
    answered = client.post(f"{PAGE}/{lamp}/reply",
                           data={"csrf_token": csrf, "text": "Electricians come on Tuesday"})
    assert answered.status_code == 200 and "The answer was sent" in answered.text
    assert "Electricians come on Tuesday" in answered.text
    with client.db.read_session() as session:
        texts = [m.body["text"] for m in session.scalars(select(OutboxMessage))]
    assert any("Electricians come on Tuesday" in t and lamp in t for t in texts)
    noted = client.post(f"{PAGE}/{lamp}/notes",
                        data={"csrf_token": csrf, "text": "Ask the utility company"})
    assert noted.status_code == 200 and "Ask the utility company" in noted.text
    assert "internal-note" in noted.text

    published = client.post(f"{PAGE}/{lamp}/publish", data={
        "csrf_token": csrf, "public_description": "A street light is out",
        "public_latitude": "42,37", "public_longitude": "21.377", "public_address": ""})
    assert published.status_code == 200, published.text
    row = row_of(client, lamp)
    assert row.published and row.public_description == "A street light is out"
    assert (row.public_latitude, row.public_longitude) == (42.37, 21.377)
    assert row.public_address is None
    assert 'id="unpublish"' in published.text
    refused = client.post(f"{PAGE}/{lamp}/publish", data={
        "csrf_token": csrf, "public_description": "x", "public_latitude": "north",
        "public_longitude": "21"})
    assert refused.status_code == 422 and "<html" in refused.text
    withdrawn = client.post(f"{PAGE}/{lamp}/unpublish", data={"csrf_token": csrf})
    assert withdrawn.status_code == 200 and not row_of(client, lamp).published

    duplicate = client.post(f"{PAGE}/{original}/transition", data={
        "csrf_token": csrf, "to": "duplicate", "duplicate_of": lamp})
    assert duplicate.status_code == 200
    assert f'href="/staff/complaints/{lamp}"' in duplicate.text
    rejected = client.post(f"{PAGE}/{water}/transition",
                           data={"csrf_token": csrf, "to": "rejected", "text": ""})
    assert rejected.status_code == 422 and "<html" in rejected.text
    assert row_of(client, water).status is ComplaintStatus.open
    assigned = client.post(f"{PAGE}/{water}/assign",
                           data={"csrf_token": csrf, "department": "administration"})
    assert assigned.status_code == 200 and "done=assign" in str(assigned.url)
    assert row_of(client, water).department == "administration"
    assert {"complaints.transition", "complaints.reply", "complaints.note",
            "complaints.publish", "complaints.unpublish", "complaints.assign"
            } <= set(actions(client))

    # the photo route needs the session
    client.cookies.clear()
    response = client.get(f"{PAGE}/{lamp}/photos/{photos[0][0]}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/staff/login"


def test_forms_without_csrf_change_nothing(client: StaffClient) -> None:  # noqa: F811
    make_staff(client.db, "info2", "info_office")
    reference = make_complaint(client.db)
    sign_in(client, "info2")
    for path, data in (("transition", {"to": "in_progress"}), ("reply", {"text": "Hello"}),
                       ("notes", {"text": "x"}), ("assign", {"department": "agriculture"}),
                       ("publish", {"public_description": "x"}), ("unpublish", {})):
        response = client.post(f"{PAGE}/{reference}/{path}",
                               data={**data, "csrf_token": "0" * 64})
        assert response.status_code == 403, path
    row = row_of(client, reference)
    assert row.status is ComplaintStatus.open and row.department == "cadastre_urbanism"
    assert not row.published
    assert not [a for a in actions(client) if a not in {"complaints.view", "complaints.list"}]


def test_a_viewer_sees_no_forms_and_no_sender(client: StaffClient) -> None:  # noqa: F811
    make_staff(client.db, "viewer1", "viewer")
    reference = make_complaint(client.db, full_name="Marko Jovanović", photos=1,
                               media_dir=media(client))
    sign_in(client, "viewer1")
    html = client.get(PAGE).text
    assert reference in html and "Marko" not in html
    assert "Who sent a complaint is not shown to your role." in html
    detail = client.get(f"{PAGE}/{reference}").text
    assert "Marko" not in detail and "+38344123456" not in detail
    for form in ('id="to-in_progress"', 'id="reply"', 'id="note"', 'id="assign"',
                 'id="publish"'):
        assert form not in detail
    [(photo_id, _)] = photo_ids(client, reference)
    assert client.get(f"{PAGE}/{reference}/photos/{photo_id}").status_code == 200
    response = client.post(f"{PAGE}/{reference}/transition",
                           data={"csrf_token": csrf_of(html), "to": "in_progress"})
    assert response.status_code == 403
    assert row_of(client, reference).status is ComplaintStatus.open
    assert actions(client) == []  # nobody's personal data was shown


def test_a_department_officer_gets_404_for_another_department(
        client: StaffClient) -> None:  # noqa: F811
    make_staff(client.db, "dep1", "department", "agriculture")
    own = make_complaint(client.db, category="water", photos=1, media_dir=media(client))
    other = make_complaint(client.db, category="roads", photos=1, media_dir=media(client))
    sign_in(client, "dep1")
    html = client.get(PAGE).text
    assert own in html and other not in html
    assert "You see the complaints of your own department only." in html
    assert '<select name="department">' not in html
    assert client.get(f"{PAGE}/{other}").status_code == 404
    [(other_photo, _)] = photo_ids(client, other)
    assert client.get(f"{PAGE}/{other}/photos/{other_photo}").status_code == 404
    assert client.get(f"{PAGE}/{own}/photos/{other_photo}").status_code == 404
    csrf = csrf_of(html)
    response = client.post(f"{PAGE}/{other}/transition",
                           data={"csrf_token": csrf, "to": "in_progress"})
    assert response.status_code == 404
    assert row_of(client, other).status is ComplaintStatus.open
    detail = client.get(f"{PAGE}/{own}").text
    assert 'id="to-in_progress"' in detail
    # sending it to another department takes it off the officer's list
    sent = client.post(f"{PAGE}/{own}/assign",
                       data={"csrf_token": csrf, "department": "cadastre_urbanism"})
    assert sent.status_code == 200 and sent.url.path == PAGE
    assert "The complaint was assigned." in sent.text and own not in sent.text.split(
        'id="complaint-list"')[1]
    assert client.get(f"{PAGE}/{own}").status_code == 404


def test_the_filters_keep_what_was_chosen(client: StaffClient) -> None:  # noqa: F811
    make_complaint(client.db, category="water", settlement="mogila")
    make_complaint(client.db, category="lighting")
    make_staff(client.db, "info7", "info_office")
    sign_in(client, "info7")
    page = client.get(PAGE, params={"category": "water", "status": "open",
                                    "has_photo": "no", "settlement": "mogila"}).text
    for name, value in (("category", "water"), ("status", "open"), ("has_photo", "no"),
                        ("settlement", "mogila")):
        select = page[page.index(f'<select name="{name}">'):]
        select = select[:select.index("</select>")]
        assert f'<option value="{value}" selected>' in select, name
        assert select.count(" selected>") == 1
    assert "Water and sewage" in page and page.count('class="photo-count"') == 1
