"""The notices' staff pages as a browser uses them: sign in, write a notice
in every language, preview it, send it (forms with CSRF), follow its
delivery on its page (a progress bar and counts, refreshed by a same-origin
script), read the answers to a public debate, and cancel it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import utcnow
from bot.models import Notice, NoticeStatus
from bot.profile import get_profile
from tests.admin.conftest import StaffClient
from tests.admin.test_notices_api import (
    CHAT_ID,
    actions,
    answer,
    deliver,
)
from tests.admin.test_pages import csrf_of, sign_in
from tests.admin.test_reception_pages import no_inline_code
from tests.factories import make_staff
from tests.handlers.test_notices import TEXTS, subscriber

PAGE = "/staff/notices"
PROFILE = get_profile()
# Run at 12:00 in Klokot (the `noon` fixture), whatever the hour.
pytestmark = [pytest.mark.clock, pytest.mark.usefixtures("noon")]


def form(csrf: str, action: str = "send", **change: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"csrf_token": csrf, "action": action, "topic": "public_debates",
                            "audience": "everyone", "when": "now",
                            **{f"text_{loc}": text for loc, text in TEXTS.items()}}
    data.update(change)
    return {k: v for k, v in data.items() if v is not None}


def only_own_scripts(html: str) -> None:
    """The CSP allows same-origin script files only: no inline code or style."""
    for tag, inside in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S):
        assert 'src="/static/' in tag and not inside.strip()
    assert " style=" not in html and "onclick" not in html


def notices(client: StaffClient) -> list[Notice]:
    with client.db.read_session() as session:
        rows = list(session.scalars(select(Notice).order_by(Notice.id)))
        for row in rows:
            session.expunge(row)
        return rows


def test_write_preview_send_follow_and_cancel(client: StaffClient) -> None:
    make_staff(client.db, "info1", "info_office")
    for n, (settlement, language) in enumerate((("klokot", "en"), ("vrbovac", "sq"),
                                               ("mogila", "sr_Cyrl"))):
        subscriber(client.db, str(n), settlement=settlement, language=language)
    dashboard = sign_in(client, "info1")
    assert 'href="/staff/notices"' in dashboard
    section = dashboard.split('id="ov-notices"')[1].split("</section>")[0]
    assert 'href="/staff/notices"' in section and "Not built yet" not in section

    empty = client.get(PAGE)
    assert empty.status_code == 200, empty.text
    no_inline_code(empty.text)
    assert 'href="/staff/notices/new"' in empty.text and "Nothing here yet." in empty.text

    new = client.get(f"{PAGE}/new")
    assert new.status_code == 200
    no_inline_code(new.text)
    for loc in PROFILE.enabled_locales:
        assert f'name="text_{loc}"' in new.text
    assert '<option value="public_debates"' in new.text
    assert 'name="settlements" value="klokot"' in new.text
    assert 'type="datetime-local"' in new.text and 'name="rsvp"' in new.text
    assert 'value="preview"' in new.text and 'value="send"' in new.text
    csrf = csrf_of(new.text)

    preview = client.post(f"{PAGE}/new", data=form(csrf, "preview", rsvp="yes"))
    assert preview.status_code == 200, preview.text
    no_inline_code(preview.text)
    for loc in PROFILE.enabled_locales:
        shown = preview.text.split(f'id="preview-{loc}"')[1].split("</figure>")[0]
        assert TEXTS[loc] in shown
    assert "Dëgjimet publike" in preview.text and "I&#39;ll come" in preview.text
    assert TEXTS["sq"] in preview.text.split('name="text_sq"')[1]  # the form keeps it
    assert notices(client) == [] and actions(client) == []

    sent = client.post(f"{PAGE}/new", data=form(csrf, rsvp="yes"))
    assert sent.status_code == 200, sent.text
    [notice] = notices(client)
    assert sent.url.path == f"{PAGE}/{notice.id}" and "done=created" in str(sent.url)
    assert notice.rsvp and notice.texts == TEXTS and notice.created_by == "info1"
    assert "The notice was saved" in sent.text
    only_own_scripts(sent.text)
    assert '<script src="/static/notice-progress.js" defer></script>' in sent.text
    assert f'data-url="/api/v1/notices/{notice.id}"' in sent.text
    assert '<progress id="delivery"' in sent.text and 'id="cancel"' in sent.text
    assert actions(client) == ["notices.create"]

    deliver(client.db)
    page = client.get(f"{PAGE}/{notice.id}")
    assert re.search(r'id="count-recipients">3<', page.text)
    assert re.search(r'id="count-pending">3<', page.text)
    assert 'max="3" value="0"' in page.text
    # the script's source: the API, signed in by the page's cookie
    polled = client.get(f"/api/v1/notices/{notice.id}")
    assert polled.status_code == 200 and polled.json()["pending"] == 3
    assert client.get("/static/notice-progress.js").status_code == 200

    listed = client.get(PAGE).text
    row = listed.split(f'id="notice-{notice.id}"')[1].split("</tr>")[0]
    assert "status-sent" in row and '<td class="num count-recipients">3</td>' in row

    cancelled = client.post(f"{PAGE}/{notice.id}/cancel", data={"csrf_token": csrf})
    assert cancelled.status_code == 200 and "done=cancelled" in str(cancelled.url)
    assert "The notice was cancelled" in cancelled.text
    assert 'id="cancel"' not in cancelled.text and "<script" not in cancelled.text
    assert re.search(r'id="count-skipped">3<', cancelled.text)
    assert notices(client)[0].status is NoticeStatus.cancelled
    again = client.post(f"{PAGE}/{notice.id}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409 and "<html" in again.text
    assert actions(client) == ["notices.create", "notices.cancel"]


def test_the_form_says_what_to_fix_and_keeps_what_was_written(client: StaffClient) -> None:
    make_staff(client.db, "info2", "info_office")
    sign_in(client, "info2")
    csrf = csrf_of(client.get(f"{PAGE}/new").text)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"text_sq": "  "}, "The text is missing in: Shqip."),
        ({"text_en": "", "text_sr_Cyrl": ""}, "The text is missing in: Српски, English."),
        ({"text_en": "x" * 3001}, "The text is longer than 3000 characters in: English."),
        ({"audience": "settlements"}, "Choose at least one settlement"),
        ({"audience": "settlements", "settlements": ["klokot", "belgrade"]},
         "Choose settlements from the list."),
        ({"topic": "football"}, "Choose one of the topics."),
        ({"when": "later", "send_at": ""}, "Give the date and time"),
        ({"when": "later", "send_at": "2020-01-01T10:00"}, "That time has passed."),
        ({"when": "later", "send_at": "2999-01-01T10:00"}, "more than a year ahead"),
    ]
    for change, message in cases:
        for action in ("preview", "send"):
            response = client.post(f"{PAGE}/new", data=form(csrf, action, **change))
            assert response.status_code == 422, (change, response.text)
            error = response.text.split('id="form-error"')[1].split("</p>")[0]
            assert message in error, (change, error)
            assert TEXTS["sr_Latn"] in response.text  # nothing written is lost
    assert notices(client) == [] and actions(client) == []


def test_a_later_time_is_local(client: StaffClient) -> None:
    make_staff(client.db, "info3", "info_office")
    sign_in(client, "info3")
    csrf = csrf_of(client.get(f"{PAGE}/new").text)
    at = (utcnow() + timedelta(days=3)).astimezone(PROFILE.tz).replace(
        hour=18, minute=30, second=0, microsecond=0)
    response = client.post(f"{PAGE}/new", data=form(
        csrf, when="later", send_at=at.strftime("%Y-%m-%dT%H:%M"), audience="settlements",
        settlements=["vrbovac", "abroad"]))
    assert response.status_code == 200, response.text
    [notice] = notices(client)
    assert notice.send_at == at and notice.settlements == ["abroad", "vrbovac"]
    assert notice.status is NoticeStatus.scheduled
    assert "waiting for this time" in response.text
    audience = response.text.split('id="audience">')[1].split("</dd>")[0]
    assert audience == "Vrbovac, abroad"


def test_the_answers_of_a_public_debate_without_names(client: StaffClient) -> None:
    make_staff(client.db, "info4", "info_office")
    subscriber(client.db, CHAT_ID)
    subscriber(client.db, "2", settlement="grncar")
    sign_in(client, "info4")
    csrf = csrf_of(client.get(f"{PAGE}/new").text)
    client.post(f"{PAGE}/new", data=form(csrf, rsvp="yes"))
    [notice] = notices(client)
    deliver(client.db)
    answer(client.db, notice.id, CHAT_ID, "klokot", "Will the road to Klokot be repaired?")
    answer(client.db, notice.id, "2", "grncar")
    page = client.get(f"{PAGE}/{notice.id}").text
    table = page.split('id="rsvp"')[1].split("</table>")[0]
    assert re.search(r"<td>Klokot</td><td class=\"num\">1</td><td class=\"num\">1</td>", table)
    assert re.search(r"<td>Grnčar</td><td class=\"num\">1</td><td class=\"num\">0</td>", table)
    assert "Coming: 2 · Questions: 1" in page
    assert "Will the road to Klokot be repaired?" in page.split('id="questions"')[1]
    assert f'href="/api/v1/notices/{notice.id}/answers.csv"' in page
    assert "Jovana" not in page and "+38344123456" not in page and CHAT_ID not in page
    export = client.get(f"/api/v1/notices/{notice.id}/answers.csv")  # the page's cookie
    assert export.status_code == 200 and "Will the road to Klokot" in export.text
    assert "notices.export" in actions(client)


def test_forms_without_csrf_change_nothing(client: StaffClient) -> None:
    make_staff(client.db, "info5", "info_office")
    sign_in(client, "info5")
    csrf = csrf_of(client.get(f"{PAGE}/new").text)
    client.post(f"{PAGE}/new", data=form(csrf))
    [notice] = notices(client)
    assert client.post(f"{PAGE}/new", data=form("0" * 64)).status_code == 403
    assert client.post(f"{PAGE}/{notice.id}/cancel",
                       data={"csrf_token": "0" * 64}).status_code == 403
    assert len(notices(client)) == 1 and notices(client)[0].status is NoticeStatus.scheduled
    assert actions(client) == ["notices.create"]


def test_other_roles_read_the_pages_but_cannot_send(client: StaffClient) -> None:
    make_staff(client.db, "writer", "admin")
    sign_in(client, "writer")
    csrf = csrf_of(client.get(f"{PAGE}/new").text)
    client.post(f"{PAGE}/new", data=form(csrf))
    [notice] = notices(client)
    for username, role, department in (("viewer1", "viewer", None),
                                       ("mayor1", "mayor_office", None),
                                       ("dep1", "department", "agriculture")):
        make_staff(client.db, username, role, department)
        client.cookies.clear()
        dashboard = sign_in(client, username)
        assert 'href="/staff/notices"' in dashboard
        for path in (PAGE, f"{PAGE}/{notice.id}"):
            assert client.get(path).status_code == 200, (role, path)
        assert client.get(f"{PAGE}/new").status_code == 403
        response = client.post(f"{PAGE}/{notice.id}/cancel",
                               data={"csrf_token": csrf_of(dashboard)})
        assert response.status_code == 403
        assert client.post(f"{PAGE}/new", data=form(csrf_of(dashboard))).status_code == 403
    assert len(notices(client)) == 1 and notices(client)[0].status is NoticeStatus.scheduled


def test_an_unknown_notice_and_a_bad_filter(client: StaffClient) -> None:
    make_staff(client.db, "info6", "info_office")
    sign_in(client, "info6")
    assert client.get(f"{PAGE}/424242").status_code == 404
    bad = client.get(PAGE, params={"status": "lost", "topic": "football"})
    assert bad.status_code == 200 and "A filter value was not understood" in bad.text
