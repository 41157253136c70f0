"""The staff pages in a real browser: Debian's Chromium driven by Playwright
against a live server. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bot.app import create_app
from bot.db import Database
from tests.factories import PASSWORD, make_citizen, make_runtime, make_staff

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# A failed sign-in is answered 401 on purpose; the browser logs it.
EXPECTED_REFUSALS = re.compile(r"status of 40[13] ")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Map tiles the complaints map test blocks on purpose (no internet here).
TILES = "https://tile.openstreetmap.org/"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser tests: install Debian's chromium")
    pytest.skip("no Chromium here (apt-get install chromium); browser tests skipped",
                allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_url(db: Database) -> Iterator[str]:
    app = create_app(runtime=make_runtime(db, login_delay_seconds=0.0), run_sender=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ])
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        tab = context.new_page()
        failed: list[str] = []
        # A media element cancels its own download once it has what it wants
        # (the length, for preload="metadata"): that is no failure.
        tab.on("requestfailed", lambda request: None if request.url.startswith(TILES)
               or (request.resource_type == "media" and request.failure == "net::ERR_ABORTED")
               else failed.append(request.url))
        tab.on("console", lambda msg: failed.append(msg.text) if msg.type == "error"
               and not EXPECTED_REFUSALS.search(msg.text)
               and not msg.location.get("url", "").startswith(TILES) else None)
        yield tab
        browser.close()
        assert not failed, f"the page could not load or ran into errors: {failed}"


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"staff-{name}.png"), full_page=True)


def test_an_officer_signs_in_looks_around_and_signs_out(db: Database, live_url: str,
                                                       page: Page) -> None:
    make_staff(db, "officer1", "admin")
    make_citizen(db, full_name="Arta Krasniqi", phone="+38344111111", settlement="vrbovac",
                 language="sq")
    page.goto(f"{live_url}/staff")
    expect(page).to_have_url(f"{live_url}/staff/login")
    shot(page, "login")

    page.fill("#username", "officer1")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_have_text("Wrong username or password.")
    shot(page, "login-failed")

    page.fill("#username", "officer1")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Welcome, officer1")
    shot(page, "dashboard")

    page.click("nav.main-nav >> text=Citizens")
    expect(page.locator("#citizens tbody tr")).to_have_count(1)
    expect(page.locator("#citizens")).to_contain_text("Arta Krasniqi")
    expect(page.locator("#citizens")).to_contain_text("Vrbovac")
    shot(page, "citizens")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    expect(page.locator("#citizens")).to_be_visible()
    shot(page, "citizens-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.click("nav.main-nav >> text=Audit log")
    expect(page.locator("#audit")).to_contain_text("citizen.list")
    expect(page.locator("#audit")).to_contain_text("login.failed")
    shot(page, "audit")

    page.select_option("#locale", "sr_Latn")
    page.click("form.inline >> button[type=submit] >> nth=0")
    expect(page.locator("#logout")).to_have_text("Odjava")
    shot(page, "audit-sr")

    page.click("#logout")
    expect(page).to_have_url(f"{live_url}/staff/login")
    page.goto(f"{live_url}/staff/citizens")
    expect(page).to_have_url(f"{live_url}/staff/login")

    page.fill("#username", "officer1")  # and once more, to sign out everywhere
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#logout-everywhere")).to_have_text("Odjava sa svih uređaja")
    page.click("#logout-everywhere")
    expect(page).to_have_url(f"{live_url}/staff/login")


def test_interactive_api_docs_load_from_local_files(live_url: str, page: Page) -> None:
    page.goto(f"{live_url}/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Klokot citizen bot")
    expect(page.locator(".swagger-ui")).to_contain_text("/api/v1/citizens")
    shot(page, "docs")


def test_the_mayors_office_runs_the_reception_day(db: Database, live_url: str,
                                                 page: Page) -> None:
    from datetime import timedelta

    from bot.db import utcnow
    from bot.profile import get_profile
    from tests.factories import make_booking, make_day, make_urgent

    today = utcnow().astimezone(get_profile().tz).date()
    make_day(db, day=today)
    make_booking(db, day=today, slot_index=0, full_name="Arta Krasniqi")
    make_booking(db, day=today + timedelta(days=7), slot_index=3, full_name="Marko Marković")
    make_urgent(db, full_name="Jovan Jovanović")
    make_staff(db, "kabinet", "mayor_office")
    page.goto(f"{live_url}/staff/login")
    page.fill("#username", "kabinet")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("nav.main-nav >> text=Mayor's reception")
    expect(page.locator("body")).to_contain_text("Arta Krasniqi")
    expect(page.locator("body")).to_contain_text("Jovan Jovanović")
    shot(page, "reception")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "reception-phone")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_url}/staff/reception/week")
    expect(page.locator("body")).to_contain_text("Arta Krasniqi")
    page.emulate_media(media="print")
    shot(page, "reception-week-print")


def test_the_information_office_works_the_document_queue(db: Database, live_url: str,
                                                        page: Page) -> None:
    from datetime import timedelta

    from bot.db import utcnow
    from tests.factories import make_document_request

    late = make_document_request(db, registered_at=utcnow() - timedelta(days=12))  # overdue
    make_document_request(db, registered_at=utcnow() - timedelta(hours=1),
                          life_or_liberty=True)
    make_staff(db, "info1", "info_office")
    page.goto(f"{live_url}/staff/login")
    page.fill("#username", "info1")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("nav.main-nav >> text=Document requests")
    expect(page.locator("body")).to_contain_text("D-")
    shot(page, "documents")
    # forwarded within the municipality, to the department that holds it
    page.goto(f"{live_url}/staff/documents/{late}")
    expect(page.locator("#forwarded-department")).to_have_text("not forwarded yet")
    page.select_option("#forward-form select[name=department]", "agriculture")
    page.click("#forward-form button[type=submit]")
    expect(page.locator("#forwarded-department")).to_have_text(
        "Agriculture, Forestry and Water Management")
    shot(page, "documents-forwarded")


def test_a_department_officer_answers_and_resolves_a_complaint(
        db: Database, live_url: str, page: Page, tmp_path: Path) -> None:
    from sqlalchemy import select

    from bot.models import Complaint, ComplaintStatus, OutboxMessage
    from tests.factories import make_complaint

    reference = make_complaint(db, photos=1, media_dir=tmp_path, address="By the school",
                               description="The street light by the school in Klokot is out "
                                           "since Monday")
    make_staff(db, "urbanism1", "department", "cadastre_urbanism")
    page.goto(f"{live_url}/staff/login")
    page.fill("#username", "urbanism1")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("nav.main-nav >> text=Complaints and suggestions")
    expect(page.locator(f"#complaint-{reference}")).to_contain_text("Street lighting")
    shot(page, "complaints")

    page.click(f"text={reference}")
    expect(page.locator("h1")).to_contain_text(reference)
    photo = page.locator("#photos img").first
    expect(photo).to_be_visible()
    assert photo.evaluate("img => img.complete && img.naturalWidth") > 0
    expect(page.locator("#map-link")).to_have_attribute(
        "href", re.compile(r"^https://www\.openstreetmap\.org/\?mlat=42\.3697&mlon=21\.3769"))

    page.fill("#reply textarea[name=text]", "The electricians will come on Tuesday.")
    page.click("#reply button[type=submit]")
    expect(page.locator(".notice")).to_have_text("The answer was sent to the citizen.")
    expect(page.locator("#history")).to_contain_text("The electricians will come on Tuesday.")

    page.fill("#to-resolved textarea[name=text]", "The lamp was replaced.")
    page.click("#to-resolved button[type=submit]")
    expect(page.locator(".notice")).to_have_text(
        "The state was changed and the citizen was told.")
    expect(page.locator("h1 .pill")).to_have_text("resolved")
    expect(page.locator("#photos img").first).to_be_visible()
    shot(page, "complaint")

    with db.read_session() as session:
        status = session.scalar(select(Complaint.status).where(
            Complaint.reference == reference))
        texts = [m.body["text"] for m in session.scalars(select(OutboxMessage))]
    assert status is ComplaintStatus.resolved
    assert any("electricians" in text and reference in text for text in texts)
    assert any("The lamp was replaced." in text for text in texts)


def test_the_information_office_sends_a_notice_and_follows_it(
        db: Database, live_url: str, page: Page) -> None:
    from sqlalchemy import select

    from bot.models import Notice, OutboxMessage, OutboxStatus
    from tests.admin.test_notices_api import deliver
    from tests.handlers.test_notices import TEXTS, subscriber

    for n, language in enumerate(("en", "sq", "sr_Latn")):
        subscriber(db, str(n), language=language)
    make_staff(db, "info1", "info_office")
    page.goto(f"{live_url}/staff/login")
    page.fill("#username", "info1")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("nav.main-nav >> text=Notices")
    page.click("#new-notice")
    page.select_option("#topic", "public_debates")
    for locale, text in TEXTS.items():
        page.fill(f"#text-{locale}", text)
    page.check("#rsvp")
    page.click("#preview-button")
    expect(page.locator("#preview-sq .bubble")).to_contain_text(TEXTS["sq"])
    expect(page.locator("#preview-sr_Cyrl .bubble")).to_contain_text(TEXTS["sr_Cyrl"])
    expect(page.locator("#preview-en .chat-buttons")).to_contain_text("I'll come")
    shot(page, "notice-preview")

    page.click("#send-button")
    expect(page.locator(".notice")).to_contain_text("The notice was saved")
    expect(page.locator("progress#delivery")).to_be_visible()
    expect(page.locator("#count-recipients")).to_have_text("0")
    expect(page.locator("#status")).to_have_text("scheduled")

    # The worker queues it; the page follows by itself.
    deliver(db)
    expect(page.locator("#count-pending")).to_have_text("3", timeout=20_000)
    expect(page.locator("#status")).to_have_text("sent")
    shot(page, "notice-sending")
    with db.session() as session:  # the sender delivers two, one fails
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        for row, status in zip(rows, (OutboxStatus.sent, OutboxStatus.sent,
                                      OutboxStatus.failed), strict=True):
            row.status = status
    expect(page.locator("#count-sent")).to_have_text("2", timeout=20_000)
    expect(page.locator("#count-failed")).to_have_text("1")
    expect(page.locator("#count-pending")).to_have_text("0")
    expect(page.locator("#cancel")).to_have_count(0)  # nothing left to stop
    assert page.locator("progress#delivery").evaluate("bar => [bar.value, bar.max]") == [3, 3]
    shot(page, "notice")

    with db.read_session() as session:
        notice = session.scalars(select(Notice)).one()
    assert notice.texts == TEXTS and notice.rsvp and notice.created_by == "info1"


def test_the_information_office_runs_a_survey_and_sees_its_charts(
        db: Database, live_url: str, page: Page) -> None:
    import json

    from sqlalchemy import select

    from bot.models import Survey, SurveyStatus
    from tests.admin.test_surveys_api import answer_all, small_steps
    from tests.handlers.test_surveys import definition

    make_staff(db, "info1", "info_office")
    make_citizen(db, external_id="41", language="sq", settlement="grncar")
    page.goto(f"{live_url}/staff/login")
    page.fill("#username", "info1")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("nav.main-nav >> text=Surveys")
    page.click("#new-survey")
    # (A definition with problems is answered 422, which the browser logs as
    # an error; tests/admin/test_surveys_pages.py covers that form.)
    page.fill("#definition", json.dumps(definition(), ensure_ascii=False, indent=2))
    shot(page, "survey-new")
    page.click("#create-button")
    expect(page.locator(".notice")).to_contain_text("saved as a draft")
    expect(page.locator("#status")).to_have_text("draft")
    page.check("#invite")
    page.click("#publish-button")
    expect(page.locator(".notice")).to_contain_text("Invitations on their way: 1.")
    expect(page.locator("#status")).to_have_text("open")
    expect(page.locator("#live-hint")).to_be_visible()

    slug = "citizens-2026"
    answer_all(db, slug, [("b1", "telegram", "en"), ("b2", "viber", "sr_Cyrl"),
                          ("b3", "telegram", "sq")], small_steps(slug, "More buses, please"))
    page.reload()
    expect(page.locator("#count-completed")).to_have_text("3")
    expect(page.locator("#chart-satisfaction rect.bar")).to_have_count(5)
    expect(page.locator("#chart-channel rect.bar")).to_have_count(2)
    expect(page.locator("#mean-satisfaction")).to_have_text("Mean: 2.00")
    expect(page.locator("#texts-comment li")).to_have_count(3)
    drawn = page.locator("svg.chart rect.bar").evaluate_all(
        "bars => bars.map(b => [Number(b.dataset.count), b.getBoundingClientRect().width])")
    assert drawn and all((width > 0) == (count > 0) for count, width in drawn), drawn
    assert sum(1 for count, _ in drawn if count > 0) == 6  # 3 values, 2 sources, 1 topic
    shot(page, "survey")

    page.click("#close-button")
    expect(page.locator("#status")).to_have_text("closed")
    with db.read_session() as session:
        survey = session.scalars(select(Survey)).one()
    assert survey.status is SurveyStatus.closed and survey.created_by == "info1"


def test_an_officer_links_their_chat_and_sees_which_chat_it_is(db: Database, live_url: str,
                                                               page: Page) -> None:
    from tests.factories import make_incoming

    make_staff(db, "mayoroffice", "mayor_office")
    page.goto(f"{live_url}/staff/login")
    page.fill("#username", "mayoroffice")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Welcome, mayoroffice")
    page.goto(f"{live_url}/staff/chat")
    page.click("form[action='/staff/chat/code'] >> button[type=submit]")
    code = page.locator("#link-code").inner_text().removeprefix("/staff ")
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5}", code), code
    shot(page, "chat-code")
    runtime = make_runtime(db)
    runtime.engine.handle(make_incoming(f"/staff {code.lower()}", channel="viber",
                                        user="viber-user-98765", display_name="Ana M."))
    page.goto(f"{live_url}/staff/chat")
    expect(page.locator("#linked-chat")).to_contain_text("Linked chat: Viber · Ana M. (…8765)")
    shot(page, "chat-linked")


def test_the_complaints_map_shows_the_markers_without_tiles(db: Database, live_url: str,
                                                          page: Page) -> None:
    """No internet: the tile requests are aborted, and the seeded complaints
    still show as markers (coloured by state, clustered where dense) whose
    cards link to the complaint; the page allows images from the tile host
    and no other."""
    from tests.factories import make_complaint

    lamp = make_complaint(db, description="The street light by the school is out")
    near = [make_complaint(db, category="roads", latitude=42.3500 + i * 0.0001,
                           longitude=21.3400) for i in range(4)]  # one cluster
    water = make_complaint(db, category="water", latitude=42.3900, longitude=21.4100)
    abroad = make_complaint(db, latitude=48.2082, longitude=16.3738)
    make_complaint(db, latitude=None, longitude=None)
    make_staff(db, "info1", "info_office")
    tiles: list[str] = []

    def block(route: Any) -> None:
        tiles.append(route.request.url)
        route.abort()

    page.route(f"{TILES}**", block)
    page.goto(f"{live_url}/staff/login")
    page.fill("#username", "info1")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("nav.main-nav >> text=Complaints")
    policy = {}
    with page.expect_response(f"{live_url}/staff/complaints/map") as answer:
        page.click("#map-link")
    for part in answer.value.headers["content-security-policy"].split("; "):
        policy[part.split()[0]] = part.split()[1:]
    assert policy["img-src"] == ["'self'", "data:", "https://tile.openstreetmap.org"]
    assert all("openstreetmap" not in " ".join(v) for k, v in policy.items() if k != "img-src")

    expect(page.locator("#complaint-map .leaflet-marker-icon").first).to_be_visible()
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("OpenStreetMap")
    # the four close together are one cluster; the others are markers of their own
    expect(page.locator(".marker-cluster")).to_have_count(1)
    expect(page.locator(".marker-cluster")).to_have_text("4")
    expect(page.locator(f".map-marker[title='{lamp}']")).to_have_count(1)
    expect(page.locator(f".map-marker.status-open[title='{water}']")).to_be_visible()
    assert tiles, "the map asked for no tiles"
    shot(page, "complaints-map")

    page.click(f".map-marker[title='{water}']")
    card = page.locator(".leaflet-popup-content .map-card")
    expect(card).to_contain_text(water)
    expect(card).to_contain_text("Water and sewage")
    expect(page.locator(".leaflet-popup")).to_have_css("opacity", "1")  # faded in
    shot(page, "complaints-map-card")
    card.locator("a").click()
    expect(page).to_have_url(f"{live_url}/staff/complaints/{water}")

    page.goto(f"{live_url}/staff/complaints/map")
    expect(page.locator("#map-outside")).to_contain_text(abroad)
    page.locator(".marker-cluster").click()  # zooms in: the cluster opens
    for reference in near:
        expect(page.locator(f".map-marker[title='{reference}']")).to_be_visible(timeout=10_000)
    shot(page, "complaints-map-zoomed")


class _Seeded:
    """What the seeding helpers of the overview and report tests need: the database."""

    def __init__(self, db: Database) -> None:
        self.db = db


def test_the_overview_shows_the_day_in_numbers(db: Database, live_url: str,
                                               page: Page) -> None:
    from typing import cast

    from bot import clock as clocks
    from bot.clock import FixedClock
    from tests.admin.conftest import StaffClient
    from tests.admin.test_overview import NOW, seed

    with clocks.using(FixedClock(NOW)):
        seed(cast(StaffClient, _Seeded(db)))
        make_staff(db, "officer1", "info_office")
        page.goto(f"{live_url}/staff/login")
        page.fill("#username", "officer1")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#ov-today-booked .count")).to_have_text("1")
        expect(page.locator("#ov-overdue .count")).to_have_text("2")
        expect(page.locator("#ov-open .count")).to_have_text("5")
        shot(page, "overview")
        page.click("#ov-overdue .count")
        expect(page).to_have_url(f"{live_url}/staff/documents?overdue=yes")
        expect(page.locator("main")).to_contain_text("Found: 2")


def test_the_monthly_report_prints(db: Database, live_url: str, page: Page) -> None:
    from typing import cast

    from bot import clock as clocks
    from bot.clock import FixedClock
    from tests.admin.conftest import StaffClient
    from tests.admin.test_reports import NOW, seed_october

    with clocks.using(FixedClock(NOW)):
        seed_october(cast(StaffClient, _Seeded(db)))
        make_staff(db, "mayor1", "mayor_office")
        page.goto(f"{live_url}/staff/login")
        page.fill("#username", "mayor1")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.click("#report-link")
        expect(page).to_have_url(f"{live_url}/staff/reports/2026-10")
        expect(page.locator("#documents-numbers")).to_contain_text("Decided in time")
        expect(page.locator("#chart-complaints-category .bar")).to_have_count(3)
        shot(page, "report")
        page.emulate_media(media="print")
        expect(page.locator("header.top")).to_be_hidden()
        shot(page, "report-print")


def test_officers_play_a_voice_message_on_the_complaint_and_booking_pages(
        db: Database, live_url: str, page: Page, tmp_path: Path) -> None:
    """The <audio> plays the recording (the browser reads its length from
    the bytes), served with an audio type only to a signed-in officer; the
    download link hands over the file."""
    from datetime import date, timedelta

    import httpx

    from tests.factories import make_booking, make_complaint, make_voice

    reference = make_complaint(db, description="(glasovna poruka)")
    voice_id = make_voice(db, complaint=reference, media_dir=tmp_path, duration=3)
    booking = make_booking(db, day=date.today() + timedelta(days=8), topic="(glasovna poruka)")
    booking_voice = make_voice(db, booking=booking, media_dir=tmp_path, duration=2)
    make_staff(db, "mayor1", "mayor_office")
    make_staff(db, "lights1", "department", "cadastre_urbanism")
    source = f"/staff/complaints/{reference}/voice/{voice_id}"
    booking_source = f"/staff/reception/bookings/{booking}/voice/{booking_voice}"

    # Without signing in, neither recording is given (a page sends to sign-in).
    for path in (source, booking_source, f"/api/v1/complaints/{reference}/voice/{voice_id}"):
        refused = httpx.get(f"{live_url}{path}", follow_redirects=False)
        assert refused.status_code in (401, 403, 303, 307), (path, refused.status_code)
        assert not refused.headers.get("content-type", "").startswith("audio/")

    def sign_in(username: str) -> None:
        page.goto(f"{live_url}/staff/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#logout")).to_be_visible()

    def plays(selector: str, src: str, seconds: float) -> None:
        player = page.locator(f"{selector} audio")
        expect(player).to_have_attribute("src", src)
        expect(player).to_have_attribute("controls", "")
        page.wait_for_function("a => a.readyState >= 1", arg=player.element_handle())
        assert abs(player.evaluate("a => a.duration") - seconds) < 0.1
        answer = page.evaluate("""async src => {
            const r = await fetch(src);
            return [r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength];
        }""", src)
        assert answer[0] == 200 and answer[1].startswith("audio/wav") and answer[2] > 0, answer
        link = page.locator(f"{selector} a.voice-download")
        expect(link).to_have_attribute("href", f"{src}?download=true")
        with page.expect_download() as download:
            link.click()
        assert download.value.suggested_filename.endswith(".wav")

    sign_in("lights1")  # the department of the complaint's category
    page.goto(f"{live_url}/staff/complaints/{reference}")
    expect(page.locator("#voice h2")).to_have_text("Voice message")
    plays("#voice", source, 3.0)
    expect(page.locator("#voice figcaption")).to_contain_text("Length 0:03")
    shot(page, "complaint-voice")
    page.click("#logout")
    expect(page).to_have_url(f"{live_url}/staff/login")

    sign_in("mayor1")
    page.goto(f"{live_url}/staff/reception/bookings/{booking}")
    plays("#voice", booking_source, 2.0)
    shot(page, "booking-voice")
