"""The staff complaints map (/staff/complaints/map): markers of exactly the
complaints the officer may see, with the box's filters; the page's CSP allows
images from exactly the configured tile host; odd locations and filters never
break it. The map in a real browser: tests/admin/test_browser.py."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from bot.app import create_app
from bot.config import Settings, tile_host
from bot.db import Database
from bot.models import Complaint
from tests.admin.conftest import StaffClient
from tests.admin.test_pages import sign_in
from tests.admin.test_reception_pages import no_inline_code
from tests.factories import make_complaint, make_runtime, make_staff

MAP = "/staff/complaints/map"


def markers(html: str) -> dict[str, dict[str, Any]]:
    """The page's marker data, by reference."""
    found = re.search(r'<script type="application/json" id="map-data">(.*?)</script>', html,
                      re.S)
    assert found, "no marker data in the page"
    return {m["ref"]: m for m in json.loads(found.group(1))["markers"]}


def csp(response: Any) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ")}


def test_every_located_complaint_is_a_marker_with_its_state_and_a_link(
        client: StaffClient) -> None:
    make_staff(client.db, "info1", "info_office")
    lamp = make_complaint(client.db, description="The lamp <b>by</b> the school is out")
    road = make_complaint(client.db, category="roads", latitude=42.3801, longitude=21.3902)
    unplaced = make_complaint(client.db, latitude=None, longitude=None)
    with client.db.session() as session:
        found = session.query(Complaint).filter_by(reference=road).one()
        found.status = found.status.__class__("in_progress")
    sign_in(client, "info1")
    page = client.get(MAP)
    assert page.status_code == 200, page.text
    shown = markers(page.text)
    assert set(shown) == {lamp, road} and unplaced not in page.text.split('id="map-data"')[1]
    assert shown[road]["status"] == "in_progress"
    assert shown[road]["status_label"] == "in progress"
    assert shown[lamp]["url"] == f"/staff/complaints/{lamp}"
    assert shown[lamp]["lat"] == 42.3697 and shown[lamp]["lon"] == 21.3769
    assert not shown[lamp]["outside"]
    assert "<b>" not in page.text.split('id="map-data"')[1].split("</script>")[0]
    assert "On the map: 2" in page.text and "without a location: 1" in page.text
    # the page's own files only: Leaflet vendored, no CDN, no inline script
    assert '<script src="/static/vendor/leaflet/leaflet.js"></script>' in page.text
    assert "unpkg" not in page.text and "cdn" not in page.text.lower()
    html = re.sub(r'<script type="application/json" id="map-data">.*?</script>', "",
                  page.text, flags=re.S)
    no_inline_code(re.sub(r'<script src="/static/[a-z/.-]+"></script>', "", html))
    for path in ("/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css",
                 "/static/vendor/markercluster/leaflet.markercluster.js",
                 "/static/complaints-map.js"):
        assert client.get(path).status_code == 200, path
    # the box links to the map with its filters, and the map back to the box
    box = client.get("/staff/complaints", params={"category": "roads"})
    assert 'href="/staff/complaints/map?category=roads"' in box.text
    filtered = client.get(MAP, params={"category": "roads"})
    assert set(markers(filtered.text)) == {road}
    assert 'href="/staff/complaints?category=roads"' in filtered.text


def test_the_map_allows_tiles_from_exactly_the_configured_host(client: StaffClient) -> None:
    make_staff(client.db, "info1", "info_office")
    sign_in(client, "info1")
    page = client.get(MAP)
    policy = csp(page)
    assert policy["img-src"] == ["'self'", "data:", "https://tile.openstreetmap.org"]
    others = {k: v for k, v in policy.items() if k != "img-src"}
    assert all("openstreetmap" not in " ".join(v) for v in others.values())
    assert policy["script-src"] == ["'self'"] and policy["connect-src"] == ["'self'"]
    data = json.loads(page.text.split('id="map-data">')[1].split("</script>")[0])
    assert data["tiles"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert "OpenStreetMap" in data["attribution"]
    # every other page keeps the strict policy
    for other in ("/staff/complaints", "/staff", "/staff/login"):
        assert csp(client.get(other))["img-src"] == ["'self'", "data:"], other


@pytest.mark.parametrize(("url", "host"), [
    ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"),
    ("http://10.0.0.5:8080/tiles/{z}/{x}/{y}.png", "http://10.0.0.5:8080"),
    ("", None),
])
def test_a_configured_tile_host_is_the_one_allowed(db: Database, url: str,
                                                    host: str | None) -> None:
    runtime = make_runtime(db, login_delay_seconds=0.0, map_tile_url=url)
    make_staff(db, "info1", "info_office")
    with StaffClient(create_app(runtime=runtime, run_sender=False)) as client:
        client.db = db
        sign_in(client, "info1")
        page = client.get(MAP)
        assert page.status_code == 200
        expected = ["'self'", "data:"] + ([host] if host else [])
        assert csp(page)["img-src"] == expected
        data = json.loads(page.text.split('id="map-data">')[1].split("</script>")[0])
        assert data["tiles"] == (url or None)


@pytest.mark.parametrize("url", [
    "javascript:alert(1)//{z}/{x}/{y}", "https://tiles.example.org/no-placeholders.png",
    "https://evil.example.org; script-src *; x/{z}/{x}/{y}",
    "https://user:pw@tiles.example.org/{z}/{x}/{y}.png", "https://tiles:port/{z}/{x}/{y}",
])
def test_a_tile_url_that_would_widen_the_policy_is_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        Settings(map_tile_url=url)
    assert tile_host("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == (
        "https://tile.openstreetmap.org")


def test_a_department_officer_sees_only_their_departments_markers(
        client: StaffClient) -> None:
    lamp = make_complaint(client.db, category="lighting")  # cadastre_urbanism
    water = make_complaint(client.db, category="water")  # agriculture
    make_staff(client.db, "agri1", "department", "agriculture")
    sign_in(client, "agri1")
    page = client.get(MAP)
    assert set(markers(page.text)) == {water}
    assert lamp not in page.text
    # asking for another department's complaints finds none of them
    other = client.get(MAP, params={"department": "cadastre_urbanism"})
    assert other.status_code == 200 and markers(other.text) == {}
    assert client.get(MAP, params={"category": "lighting"}).text.count(lamp) == 0


def test_odd_locations_and_filters_never_break_the_map(client: StaffClient) -> None:
    make_staff(client.db, "info1", "info_office")
    home = make_complaint(client.db)
    abroad = make_complaint(client.db, latitude=48.2082, longitude=16.3738)  # Vienna
    broken = make_complaint(client.db)
    with client.db.session() as session:  # hand-edited data: not a place on Earth
        row = session.query(Complaint).filter_by(reference=broken).one()
        row.latitude = 123.0
    sign_in(client, "info1")
    page = client.get(MAP)
    assert page.status_code == 200
    shown = markers(page.text)
    assert set(shown) == {home, abroad}
    assert shown[abroad]["outside"] and not shown[home]["outside"]
    outside = page.text.split('id="map-outside"')[1]
    assert abroad in outside and home not in outside
    assert "Located outside the municipality: 1" in outside
    # nothing matches: an empty map, not an error
    empty = client.get(MAP, params={"created_from": "2001-01-01", "created_to": "2001-01-02"})
    assert empty.status_code == 200 and markers(empty.text) == {}
    assert "On the map: 0" in empty.text
    # a filter not understood: the whole map, and it says so
    for params in ({"category": "nonsense"}, {"created_from": "yesterday"},
                   {"status": "'; drop table"}, {"has_photo": "maybe"}):
        bad = client.get(MAP, params=params)
        assert bad.status_code == 200, params
        assert 'role="alert"' in bad.text and set(markers(bad.text)) == {home, abroad}


def test_the_map_needs_a_signed_in_officer_who_may_read_complaints(db: Database) -> None:
    runtime = make_runtime(db, login_delay_seconds=0.0)
    with TestClient(create_app(runtime=runtime, run_sender=False)) as anonymous:
        response = anonymous.get(MAP, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/staff/login"
