"""The surveys' staff pages as a browser uses them: sign in, define a survey
by pasting its JSON or uploading it as a file (every problem listed beside
the form, nothing typed lost), publish it and invite its audience, watch the
results as server-drawn SVG bar charts (the page reloads itself while the
survey is open), export them, close it — forms with CSRF, and read-only for
the roles that may only look."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from bot.admin.charts import BAR_WIDTH, chart
from bot.models import Survey, SurveyStatus
from tests.admin.conftest import StaffClient
from tests.admin.test_notices_pages import only_own_scripts
from tests.admin.test_pages import csrf_of, sign_in
from tests.admin.test_surveys_api import answer_all, audit_entries, small_steps
from tests.factories import make_citizen, make_staff
from tests.handlers.test_surveys import definition

PAGE = "/staff/surveys"


def surveys(client: StaffClient) -> list[Survey]:
    with client.db.read_session() as session:
        rows = list(session.scalars(select(Survey).order_by(Survey.id)))
        for row in rows:
            session.expunge(row)
        return rows


def bars(html: str, key: str) -> list[tuple[float, int, float]]:
    """(width, count, percent) of each bar of a question's chart."""
    svg = html.split(f'<svg class="chart" id="chart-{key}"')[1].split("</svg>")[0]
    return [(float(width), int(count), float(percent)) for width, count, percent in
            re.findall(r'<rect class="bar" [^>]*width="([\d.]+)"[^>]*data-count="(\d+)" '
                       r'data-percent="([\d.]+)"', svg)]


def test_define_publish_watch_and_close(client: StaffClient) -> None:
    make_staff(client.db, "info1", "info_office")
    make_citizen(client.db, external_id="11", language="en", settlement="klokot")
    make_citizen(client.db, external_id="12", language="sq", settlement="vrbovac")
    dashboard = sign_in(client, "info1")
    section = dashboard.split('id="ov-surveys"')[1].split("</section>")[0]
    assert 'href="/staff/surveys"' in section and "Not built yet" not in section

    empty = client.get(PAGE)
    assert empty.status_code == 200, empty.text
    only_own_scripts(empty.text)
    assert 'href="/staff/surveys/new"' in empty.text and "Nothing here yet." in empty.text

    new = client.get(f"{PAGE}/new")
    assert new.status_code == 200
    only_own_scripts(new.text)
    assert 'enctype="multipart/form-data"' in new.text
    assert '<textarea id="definition" name="definition"' in new.text
    assert 'type="file" name="file"' in new.text
    assert "Shqip (sq)" in new.text  # the languages every text needs
    assert "citizens-2026" in new.text.split('id="example"')[1]  # an example to start from
    csrf = csrf_of(new.text)

    not_json = client.post(f"{PAGE}/new", data={"csrf_token": csrf, "definition": "{slug:"})
    assert not_json.status_code == 422
    assert "This is not valid JSON (line 1, column 2" in not_json.text
    assert "{slug:" in not_json.text.split('name="definition"')[1]
    nothing = client.post(f"{PAGE}/new", data={"csrf_token": csrf, "definition": " "})
    assert nothing.status_code == 422 and "Paste the survey" in nothing.text

    wrong = definition(title={"en": "English only"})
    wrong["questions"][0]["type"] = "ranking"
    written = json.dumps(wrong, ensure_ascii=False, indent=1)
    refused = client.post(f"{PAGE}/new", data={"csrf_token": csrf, "definition": written})
    assert refused.status_code == 422
    assert "The definition has 2 problem(s)" in refused.text
    listed = refused.text.split('id="problems"')[1].split("</aside>")[0]
    assert re.search(r'data-field="title"><code>title</code> — missing translation: sr_Latn, '
                     r'sr_Cyrl, sq</li>', listed)
    assert 'data-field="questions[0].type"' in listed and "unknown type" in listed
    kept = refused.text.split('name="definition"')[1].split("</textarea>")[0]
    assert "English only" in kept and "&#34;ranking&#34;" in kept  # nothing typed is lost
    assert surveys(client) == [] and audit_entries(client) == []

    uploaded = client.post(f"{PAGE}/new", data={"csrf_token": csrf, "definition": ""}, files={
        "file": ("survey.json", json.dumps(definition()).encode("utf-8-sig"),
                 "application/json")})
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.url.path == f"{PAGE}/citizens-2026" and "done=created" in str(uploaded.url)
    assert "saved as a draft" in uploaded.text
    [survey] = surveys(client)
    assert survey.created_by == "info1" and survey.status is SurveyStatus.draft
    taken = client.post(f"{PAGE}/new", data={"csrf_token": csrf,
                                             "definition": json.dumps(definition())})
    assert taken.status_code == 409 and "A survey with this slug exists" in taken.text

    draft = uploaded.text
    only_own_scripts(draft)
    assert "<script" not in draft  # a draft does not change by itself
    assert 'id="publish"' in draft and 'name="invite"' in draft and 'id="close"' in draft
    for key in ("satisfaction", "channel", "topics"):
        assert bars(draft, key) and all(w == 0 for w, _, _ in bars(draft, key))
    assert 'id="chart-comment"' not in draft and "No answers yet." in draft
    assert 'href="/api/v1/surveys/citizens-2026/results.csv"' in draft
    assert 'href="/api/v1/surveys/citizens-2026/results.xlsx"' in draft
    assert "cannot be filtered" in draft  # anonymous

    published = client.post(f"{PAGE}/citizens-2026/publish",
                            data={"csrf_token": csrf, "invite": "true"})
    assert published.status_code == 200
    assert "done=invited" in str(published.url) and "Invitations on their way: 2." in \
        published.text
    assert 'id="status">open<' in published.text and 'id="publish"' not in published.text
    assert '<script src="/static/survey-live.js" defer></script>' in published.text
    assert 'data-refresh="30"' in published.text
    assert client.get("/static/survey-live.js").status_code == 200
    assert [e.action for e in audit_entries(client)] == ["surveys.create", "surveys.publish"]

    slug = "citizens-2026"
    users = [(f"p{n}", "telegram", "en") for n in range(4)]
    answer_all(client.db, slug, users, small_steps(slug, "Less dust on the roads"))
    page = client.get(f"{PAGE}/{slug}").text
    assert re.search(r'id="count-completed">4<', page)
    # n = 0..3: scale values 1, 2, 3, 4; news: web, radio, web, radio; topics: roads × 4
    assert bars(page, "satisfaction") == [(82.5, 1, 25.0), (82.5, 1, 25.0), (82.5, 1, 25.0),
                                          (82.5, 1, 25.0), (0.0, 0, 0.0)]
    assert bars(page, "channel") == [(165.0, 2, 50.0), (165.0, 2, 50.0)]
    assert bars(page, "topics") == [(BAR_WIDTH, 4, 100.0), (0.0, 0, 0.0), (0.0, 0, 0.0)]
    assert "Mean: 2.50" in page and "answered by 4 of 4" in page
    assert ">Website</text>" in page and "4 · 100.0 %" in page
    comments = page.split('id="texts-comment"')[1].split("</ol>")[0]
    assert [f"Less dust on the roads {n}" for n in range(4)] == sorted(re.findall(
        r'<li class="pre-wrap">([^<]+)</li>', comments))  # anonymous: in no order of arrival

    closed = client.post(f"{PAGE}/{slug}/close", data={"csrf_token": csrf})
    assert closed.status_code == 200 and "The survey is closed" in closed.text
    assert 'id="status">closed<' in closed.text and "<script" not in closed.text
    assert 'id="close"' not in closed.text and 'id="publish"' not in closed.text
    again = client.post(f"{PAGE}/{slug}/close", data={"csrf_token": csrf})
    assert again.status_code == 409 and "<html" in again.text
    assert surveys(client)[0].status is SurveyStatus.closed

    listed_page = client.get(PAGE, params={"status": "closed"}).text
    row = listed_page.split(f'id="survey-{slug}"')[1].split("</tr>")[0]
    assert "status-closed" in row and '<td class="num count-completed">4</td>' in row
    assert "Unknown filter" in client.get(PAGE, params={"status": "nonsense"}).text


def test_a_named_survey_filters_its_results_on_the_page(client: StaffClient) -> None:
    make_staff(client.db, "admin1", "admin")
    sign_in(client, "admin1")
    csrf = csrf_of(client.get(f"{PAGE}/new").text)
    client.post(f"{PAGE}/new", data={"csrf_token": csrf, "definition": json.dumps(
        definition(anonymous=False))}).raise_for_status()
    client.post(f"{PAGE}/citizens-2026/publish", data={"csrf_token": csrf}).raise_for_status()
    slug = "citizens-2026"
    answer_all(client.db, slug, [("a", "telegram", "en"), ("b", "viber", "sq"),
                                 ("c", "viber", "en")], small_steps(slug))
    page = client.get(f"{PAGE}/{slug}", params={"channel": "viber"}).text
    assert 'id="filters"' in page and '<option value="viber" selected>' in page
    assert re.search(r'id="count-completed">2<', page)
    assert 'href="/api/v1/surveys/citizens-2026/results.csv?channel=viber"' in page
    assert bars(page, "channel") == [(165.0, 1, 50.0), (165.0, 1, 50.0)]
    wrong = client.get(f"{PAGE}/{slug}", params={"language": "klingon"}).text
    assert "Unknown filter value" in wrong and re.search(r'id="count-completed">3<', wrong)


def test_roles_that_only_read_see_no_forms(client: StaffClient) -> None:
    make_staff(client.db, "info1", "info_office")
    make_staff(client.db, "viewer1", "viewer")
    sign_in(client, "info1")
    csrf = csrf_of(client.get(f"{PAGE}/new").text)
    client.post(f"{PAGE}/new", data={"csrf_token": csrf, "definition": json.dumps(
        definition())}).raise_for_status()
    no_csrf = client.post(f"{PAGE}/citizens-2026/publish", data={"csrf_token": "forged"})
    assert no_csrf.status_code == 403 and surveys(client)[0].status is SurveyStatus.draft
    forged_new = client.post(f"{PAGE}/new", data={"definition": json.dumps(
        definition(slug="other"))})
    assert forged_new.status_code == 403 and len(surveys(client)) == 1

    client.cookies.clear()
    sign_in(client, "viewer1")
    listed = client.get(PAGE).text
    assert 'id="survey-citizens-2026"' in listed and 'href="/staff/surveys/new"' not in listed
    page = client.get(f"{PAGE}/citizens-2026")
    assert page.status_code == 200
    assert 'id="publish"' not in page.text and 'id="close"' not in page.text
    assert client.get(f"{PAGE}/new").status_code == 403
    csrf = csrf_of(page.text)
    assert client.post(f"{PAGE}/citizens-2026/publish",
                       data={"csrf_token": csrf}).status_code == 403
    assert client.get(f"{PAGE}/no-such-survey").status_code == 404


def test_a_bar_is_as_long_as_its_share_and_never_invisible() -> None:
    drawn = chart("q", "Question?", [("A", 1, 0.1), ("B", 0, 0.0), ("C", 999, 99.9),
                                     ("A very long option text that will not fit", 5, 50.0)])
    assert [b.width for b in drawn.bars] == [1.0, 0.0, round(BAR_WIDTH * 0.999, 1),
                                             BAR_WIDTH / 2]
    assert [b.y for b in drawn.bars] == [4, 34, 64, 94] and drawn.height == 128
    assert drawn.bars[3].short.endswith("…") and len(drawn.bars[3].short) <= 34
    assert drawn.bars[3].label == "A very long option text that will not fit"
