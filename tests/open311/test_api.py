"""Open311 GeoReport v2: each endpoint's shape against the spec, filing and
approval, what is public (only approved complaints, only their public
copies, never who sent them), and every error in the spec's error form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import insert, select

from bot.db import Database, utcnow
from bot.models import Complaint, ComplaintStatus, Open311Key
from bot.open311 import api
from bot.profile import get_profile
from bot.services import complaints as service
from tests.factories import make_complaint
from tests.open311.conftest import V2, Open311Client, publish

REQUEST_FIELDS = {
    "service_request_id": str, "status": str, "status_notes": type(None),
    "service_name": str, "service_code": str, "description": str,
    "agency_responsible": str, "service_notice": type(None), "requested_datetime": str,
    "updated_datetime": str, "expected_datetime": type(None), "address": (str, type(None)),
    "address_id": type(None), "zipcode": type(None), "lat": (float, type(None)),
    "long": (float, type(None)), "media_url": type(None),
}
SERVICE_FIELDS = {"service_code": str, "service_name": str, "description": str,
                  "metadata": bool, "type": str, "keywords": str, "group": str}


def assert_shape(item: dict[str, Any], fields: dict[str, Any]) -> None:
    assert set(item) == set(fields), set(item) ^ set(fields)
    for name, kind in fields.items():
        assert isinstance(item[name], kind), (name, item[name])


def assert_error(response: Any, status: int, words: str = "") -> None:
    """The GeoReport v2 error form: [{"code": status, "description": "…"}]."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status
    assert isinstance(body[0]["description"], str) and body[0]["description"]
    assert words in body[0]["description"], body[0]["description"]


def published(db: Database, **fields: Any) -> str:
    reference = make_complaint(db, **fields)
    publish(db, reference)
    return reference


def set_status(db: Database, reference: str, status: ComplaintStatus) -> None:
    with db.session() as session:
        complaint = service.by_reference(session, reference)
        assert complaint is not None
        complaint.status = status


# --- discovery and services -------------------------------------------------------

def test_discovery_names_the_endpoint(client: Open311Client) -> None:
    response = client.get(f"{V2}/discovery.json")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"changeset", "contact", "key_service", "endpoints"}
    assert datetime.fromisoformat(body["changeset"]).tzinfo is not None
    assert "info@kk.rks-gov.net" in body["contact"]
    assert body["endpoints"] == [{
        "specification": "http://wiki.open311.org/GeoReport_v2",
        "url": "http://testserver/open311/v2", "changeset": body["changeset"],
        "type": "production", "formats": ["application/json"]}]


def test_discovery_uses_public_url_when_set(db: Database) -> None:
    from bot.app import create_app
    from tests.factories import make_runtime

    runtime = make_runtime(db, public_url="https://bot.kk.example/")
    with Open311Client(create_app(runtime=runtime, run_sender=False)) as client:
        url = client.get(f"{V2}/discovery.json").json()["endpoints"][0]["url"]
    assert url == "https://bot.kk.example/open311/v2"


def test_services_are_the_profile_categories(client: Open311Client) -> None:
    profile = get_profile()
    body = client.get(f"{V2}/services.json").json()
    assert [s["service_code"] for s in body] == [c.code for c in profile.complaint_categories]
    for item in body:
        assert_shape(item, SERVICE_FIELDS)
        assert item["metadata"] is False and item["type"] == "realtime"
    roads = body[0]
    # The default locale (sr_Latn), and the department as the group.
    assert roads["service_name"] == "Putevi i ulice"
    assert roads["group"] == "Odeljenje za katastar, urbanizam i geodeziju"
    assert "Roads and streets" in roads["keywords"]
    english = client.get(f"{V2}/services.json", params={"locale": "en"}).json()[0]
    assert english["service_name"] == "Roads and streets"
    assert english["group"] == "Cadastre, Urbanism and Geodesy"
    albanian = client.get(f"{V2}/services.json", params={"locale": "sq"}).json()[0]
    assert albanian["service_name"] == "Rrugët"


def test_service_definition(client: Open311Client) -> None:
    response = client.get(f"{V2}/services/lighting.json")
    assert response.status_code == 200
    assert response.json() == {"service_code": "lighting", "attributes": []}
    assert_error(client.get(f"{V2}/services/potholes.json"), 404, "potholes")


# --- filing, approval and reading ---------------------------------------------------

def test_post_then_approve_then_read(client: Open311Client, db: Database) -> None:
    key = client.key("fixmystreet")
    response = client.file(key, service_code="water", description="  The water main in "
                           "Vrbovac has been leaking for a week  ", address_string="Vrbovac, "
                           "by the school", email="reporter@example.org", first_name="Agron",
                           last_name="Hoxha", phone="044 123 456",
                           media_url="https://example.org/leak.jpg")
    assert response.status_code == 201, response.text
    [created] = response.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert created["service_notice"] is None and created["account_id"] is None
    reference = created["service_request_id"]
    assert reference.startswith("C-")

    with db.read_session() as session:
        complaint = session.scalar(select(Complaint).where(Complaint.reference == reference))
        assert complaint is not None
        assert (complaint.source, complaint.open311_client) == ("open311", "fixmystreet")
        assert complaint.category == "water" and complaint.department == "agriculture"
        assert complaint.description == ("The water main in Vrbovac has been leaking for a "
                                         "week")
        assert (complaint.latitude, complaint.longitude) == (42.3697, 21.3769)
        assert complaint.address == "Vrbovac, by the school"
        assert complaint.contact_name == "Agron Hoxha"
        assert complaint.contact_email == "reporter@example.org"
        assert complaint.contact_phone == "+38344123456"
        assert not complaint.published and not complaint.photos
        key_row = session.scalar(select(Open311Key).where(Open311Key.name == "fixmystreet"))
        assert key_row is not None and key_row.last_used_at is not None

    # Not approved: simply absent.
    assert_error(client.get(f"{V2}/requests/{reference}.json"), 404)
    assert client.get(f"{V2}/requests.json").json() == []
    assert client.get(f"{V2}/requests.json",
                      params={"service_request_id": reference}).json() == []

    publish(db, reference)
    [item] = client.get(f"{V2}/requests/{reference}.json", params={"locale": "en"}).json()
    assert_shape(item, REQUEST_FIELDS)
    assert item == {
        **item, "service_request_id": reference, "status": "open", "service_code": "water",
        "service_name": "Water and sewage",
        "agency_responsible": "Agriculture, Forestry and Water Management",
        "description": "The water main in Vrbovac has been leaking for a week",
        "address": "Vrbovac, by the school", "lat": 42.3697, "long": 21.3769,
        "media_url": None}
    assert client.get(f"{V2}/requests.json").json() == [
        {**item, "service_name": "Voda i kanalizacija",
         "agency_responsible": "Odeljenje za poljoprivredu, šumarstvo i vodoprivredu"}]
    # Case does not matter in a reference.
    assert client.get(f"{V2}/requests/{reference.lower()}.json").status_code == 200


def test_times_carry_the_municipality_offset(client: Open311Client, db: Database) -> None:
    summer = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    reference = published(db, created_at=summer)
    [item] = client.get(f"{V2}/requests/{reference}.json").json()
    assert item["requested_datetime"] == "2026-07-01T12:00:00+02:00"
    updated = datetime.fromisoformat(item["updated_datetime"])
    assert updated.utcoffset() in {timedelta(hours=1), timedelta(hours=2)}


def test_address_alone_is_a_location(client: Open311Client, db: Database) -> None:
    response = client.file(client.key(), lat=None, long=None, address_string="Mogila centre")
    assert response.status_code == 201, response.text
    reference = response.json()[0]["service_request_id"]
    publish(db, reference)
    [item] = client.get(f"{V2}/requests/{reference}.json").json()
    assert (item["lat"], item["long"], item["address"]) == (None, None, "Mogila centre")


def test_only_the_public_copies_are_shown(client: Open311Client, db: Database) -> None:
    reference = make_complaint(db, description="Near Jovana's house at Karađorđeva 12, "
                               "the light is out", latitude=42.37011, longitude=21.37522,
                               address="Karađorđeva 12")
    publish(db, reference, description="A street light in Klokot is out",
            latitude=42.37, longitude=21.375, address="Klokot centre")
    response = client.get(f"{V2}/requests/{reference}.json")
    [item] = response.json()
    assert item["description"] == "A street light in Klokot is out"
    assert (item["lat"], item["long"], item["address"]) == (42.37, 21.375, "Klokot centre")
    for private in ("Jovana", "Karađorđeva", "42.37011", "21.37522"):
        assert private not in response.text
    hidden = make_complaint(db, latitude=42.36, longitude=21.36)
    publish(db, hidden, keep_location=False)
    [item] = client.get(f"{V2}/requests/{hidden}.json").json()
    assert (item["lat"], item["long"], item["address"]) == (None, None, None)


def test_sender_information_is_never_shown(client: Open311Client, db: Database) -> None:
    named = published(db, full_name="Zana Berishaxyz", phone="+38344987654", anonymous=False,
                      channel="viber")
    anonymous = published(db, full_name="Milan Anonimovic", phone="+38344555111",
                          anonymous=True)
    key = client.key("secret-client-name")
    filed = client.file(key, email="tipster@example.org", first_name="Drita",
                        last_name="Tipsterova", phone="+38349111222").json()
    posted = filed[0]["service_request_id"]
    publish(db, posted)
    answers = [client.get(f"{V2}/requests.json"),
               client.get(f"{V2}/requests.json",
                          params={"service_request_id": f"{named},{anonymous},{posted}"}),
               *(client.get(f"{V2}/requests/{ref}.json") for ref in (named, anonymous, posted)),
               client.get(f"{V2}/services.json"), client.get(f"{V2}/discovery.json")]
    assert len(answers[0].json()) == 3 and len(answers[1].json()) == 3
    for response in answers:
        assert response.status_code == 200
        for secret in ("Berishaxyz", "987654", "Anonimovic", "555111", "tipster",
                       "Drita", "Tipsterova", "111222", "secret-client-name"):
            assert secret not in response.text, (secret, response.url)
    for response in answers[:5]:  # the requests: no field about the sender at all
        for word in ("anonymous", "viber", "telegram", "citizen", "account_id", "email",
                     "phone", "first_name", "last_name", "contact", "source", "client"):
            assert word not in response.text.lower(), (word, response.url)
        for item in response.json():
            assert_shape(item, REQUEST_FIELDS)


def test_unpublished_complaints_are_absent(client: Open311Client, db: Database) -> None:
    hidden = make_complaint(db)
    shown = published(db)
    listed = client.get(f"{V2}/requests.json").json()
    assert [item["service_request_id"] for item in listed] == [shown]
    assert_error(client.get(f"{V2}/requests/{hidden}.json"), 404)
    assert client.get(f"{V2}/requests.json",
                      params={"service_request_id": hidden}).json() == []
    with db.session() as session:
        complaint = service.by_reference(session, shown)
        assert complaint is not None
        service.unpublish(session, complaint, by="officer", now=utcnow())
    assert client.get(f"{V2}/requests.json").json() == []
    assert_error(client.get(f"{V2}/requests/{shown}.json"), 404)


def test_status_is_open_or_closed(client: Open311Client, db: Database) -> None:
    states = {}
    for status in ComplaintStatus:
        reference = published(db)
        set_status(db, reference, status)
        states[reference] = status
    listed = client.get(f"{V2}/requests.json").json()
    assert {item["service_request_id"]: item["status"] for item in listed} == {
        ref: "open" if status in {ComplaintStatus.open, ComplaintStatus.in_progress}
        else "closed" for ref, status in states.items()}
    opened = client.get(f"{V2}/requests.json", params={"status": "open"}).json()
    assert {item["status"] for item in opened} == {"open"} and len(opened) == 2
    closed = client.get(f"{V2}/requests.json", params={"status": "closed"}).json()
    assert {item["status"] for item in closed} == {"closed"} and len(closed) == 3
    both = client.get(f"{V2}/requests.json", params={"status": "open,closed"}).json()
    assert len(both) == 5


def test_filters_by_id_service_code_and_dates(client: Open311Client, db: Database) -> None:
    now = utcnow()
    roads = published(db, category="roads", created_at=now - timedelta(days=1))
    water = published(db, category="water", created_at=now - timedelta(days=2))
    old = published(db, category="roads", created_at=now - timedelta(days=120))

    def ids(**params: str) -> list[str]:
        response = client.get(f"{V2}/requests.json", params=params)
        assert response.status_code == 200, response.text
        return [item["service_request_id"] for item in response.json()]

    # The last 90 days by default, newest first.
    assert ids() == [roads, water]
    assert ids(service_code="roads") == [roads]
    assert ids(service_code="roads,water") == [roads, water]
    # Asking by id overrides every other argument, the window too.
    assert ids(service_request_id=f"{old}, {water}", service_code="roads") == [water, old]
    start = (now - timedelta(days=130)).isoformat()
    end = (now - timedelta(days=100)).isoformat()
    assert ids(start_date=start, end_date=end) == [old]
    assert ids(start_date=start) == [old]  # 90 days from the start
    assert ids(end_date=end) == [old]  # 90 days up to the end
    local = (now - timedelta(days=3)).astimezone(get_profile().tz).strftime("%Y-%m-%dT%H:%M")
    assert ids(start_date=local) == [roads, water]  # no offset: local time
    assert ids(start_date=(now - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")) == [
        roads, water]


def test_at_most_a_thousand_newest_first(client: Open311Client, db: Database) -> None:
    now = utcnow()
    rows = [{"reference": f"C-2026-{n:05d}", "category": "roads", "department": "administration",
             "description": "Bulk complaint text", "status": ComplaintStatus.open,
             "created_at": now - timedelta(minutes=n), "updated_at": now, "published": True,
             "public_description": f"Bulk complaint {n}", "anonymous": False, "source": "chat"}
            for n in range(1, api.LIMIT + 6)]
    with db.session() as session:
        session.execute(insert(Complaint), rows)
    listed = client.get(f"{V2}/requests.json").json()
    assert len(listed) == api.LIMIT == 1000
    assert [item["service_request_id"] for item in listed[:3]] == [
        "C-2026-00001", "C-2026-00002", "C-2026-00003"]
    assert listed[-1]["service_request_id"] == "C-2026-01000"


def test_the_limit_is_one_constant(client: Open311Client, db: Database,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    now = utcnow()
    made = [published(db, created_at=now - timedelta(hours=hours)) for hours in (5, 1, 3, 2)]
    monkeypatch.setattr(api, "LIMIT", 2)
    listed = client.get(f"{V2}/requests.json").json()
    assert [item["service_request_id"] for item in listed] == [made[1], made[3]]


# --- errors ---------------------------------------------------------------------

def test_filing_needs_an_active_key(client: Open311Client, db: Database) -> None:
    assert_error(client.file(None), 403, "api_key")
    assert_error(client.file(""), 403, "api_key")
    assert_error(client.file("not-a-key"), 403, "api_key")
    assert_error(client.file("x" * 5000), 403, "api_key")
    key = client.key("revoked-app")
    assert client.file(key).status_code == 201
    with db.session() as session:
        from bot.open311 import keys

        keys.revoke_key(session, "revoked-app", now=utcnow())
    assert_error(client.file(key), 403, "revoked")
    with db.read_session() as session:
        assert [c.source for c in session.scalars(select(Complaint))] == ["open311"]


@pytest.mark.parametrize(("fields", "words"), [
    ({"service_code": "potholes"}, "service_code"),
    ({"service_code": None}, "service_code"),
    ({"lat": None, "long": None}, "location is required"),
    ({"lat": None}, "both lat and long"),
    ({"long": None}, "both lat and long"),
    ({"lat": "91", "long": "21"}, "-90..90"),
    ({"lat": "42", "long": "-180.5"}, "-180..180"),
    ({"lat": "nan", "long": "21"}, "-90..90"),
    ({"lat": "inf", "long": "21"}, "-90..90"),
    ({"lat": "north", "long": "21"}, "decimal degrees"),
    ({"lat": None, "long": None, "address_string": "ab"}, "address_string"),
    ({"lat": None, "long": None, "address_string": "a" * 301}, "address_string"),
    ({"lat": None, "long": None, "address_id": "17"}, "address_id is not supported"),
    ({"description": None}, "description is required"),
    ({"description": "too short"}, "10–4000"),
    ({"description": "x" * 4001}, "too long"),
    ({"description": "?!?!?!?!?!?!?!"}, "letters or digits"),
    ({"email": "not-an-email"}, "email"),
    ({"email": "a@" + "b" * 200 + ".org"}, "email"),
    ({"first_name": "A" * 150, "last_name": "B" * 60}, "first_name"),
    ({"phone": "1" * 65}, "phone"),
])
def test_filing_errors(client: Open311Client, db: Database, fields: dict[str, Any],
                       words: str) -> None:
    assert_error(client.file(client.key(), **fields), 400, words)
    with db.read_session() as session:
        assert session.scalars(select(Complaint)).all() == []


def test_the_longest_description_is_taken(client: Open311Client) -> None:
    assert client.file(client.key(), description="x" * 4000).status_code == 201


def test_filing_must_be_a_form(client: Open311Client) -> None:
    response = client.post(f"{V2}/requests.json",
                           json={"api_key": client.key(), "service_code": "roads"})
    assert_error(response, 400, "x-www-form-urlencoded")
    # A file where text belongs: FastAPI's validation error, as a GeoReport 400.
    response = client.post(f"{V2}/requests.json", data={"api_key": "k"},
                           files={"description": ("a.txt", b"abc", "text/plain")})
    assert_error(response, 400, "invalid input: description")


@pytest.mark.parametrize(("params", "words"), [
    ({"start_date": "yesterday"}, "start_date"),
    ({"end_date": "2026-13-45"}, "end_date"),
    ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90 days"),
    ({"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-02-01T00:00:00Z"}, "before"),
    ({"start_date": "9999-12-31T00:00:00+00:00"}, "out of range"),
    ({"end_date": "0001-01-01T00:00:00+00:00"}, "out of range"),
    ({"start_date": "0001-01-01T00:00:00+05:00"}, "start_date"),
    ({"status": "pending"}, "status"),
    ({"service_code": "roads,potholes"}, "potholes"),
    ({"locale": "de"}, "locale"),
    ({"service_request_id": ",".join(f"C-2026-{n:04d}" for n in range(1001))}, "at most"),
])
def test_list_errors(client: Open311Client, params: dict[str, str], words: str) -> None:
    assert_error(client.get(f"{V2}/requests.json", params=params), 400, words)


def test_unknown_locale_is_refused_everywhere(client: Open311Client) -> None:
    assert_error(client.get(f"{V2}/services.json", params={"locale": "fr"}), 400, "locale")
    assert_error(client.get(f"{V2}/requests/C-2026-0001.json", params={"locale": "fr"}), 400)
    assert client.get(f"{V2}/services.json", params={"locale": "sr-Cyrl"}).status_code == 200


def test_jurisdiction(client: Open311Client, db: Database) -> None:
    reference = published(db)
    key = client.key()
    for path in ("discovery.json", "services.json", "services/roads.json", "requests.json",
                 f"requests/{reference}.json"):
        assert client.get(f"{V2}/{path}", params={"jurisdiction_id": "klokot"}
                          ).status_code == 200, path
        assert_error(client.get(f"{V2}/{path}", params={"jurisdiction_id": "chicago.gov"}),
                     404, "jurisdiction_id")
    assert client.file(key, jurisdiction_id="klokot").status_code == 201
    assert_error(client.file(key, jurisdiction_id="chicago.gov"), 404, "jurisdiction_id")


@pytest.mark.parametrize("path", ["discovery.xml", "services.xml", "services/roads.xml",
                                  "requests.xml", "requests/C-2026-0001.xml"])
def test_only_json_is_served(client: Open311Client, path: str) -> None:
    assert_error(client.get(f"{V2}/{path}"), 404, "only JSON is served")
    if path == "requests.xml":
        assert_error(client.post(f"{V2}/{path}", data={"api_key": "k"}), 404,
                     "only JSON is served")


def test_other_errors_are_in_the_spec_form_too(client: Open311Client) -> None:
    assert_error(client.get(f"{V2}/nothing-here"), 404)
    assert_error(client.get(f"{V2}/requests/C-2026-9999.json"), 404)
    assert_error(client.delete(f"{V2}/requests.json"), 405)
    assert_error(client.put(f"{V2}/services.json"), 405)


def test_not_in_the_admin_schema(client: Open311Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if "open311" in path]


@pytest.mark.parametrize("params", [
    {"service_request_id": "C-" + "9" * 300},
    {"service_request_id": "C-2026-\x000001,,,  ,"},
    {"service_code": "\x00"},
    {"status": "open,\x00"},
    {"start_date": "0002-01-01T00:00:00Z", "end_date": "0002-03-01T00:00:00Z"},
    {"start_date": "9999-01-01T00:00:00Z", "end_date": "9999-03-01T00:00:00Z"},
    {"start_date": "2026", "end_date": "2026-02"},
    {"jurisdiction_id": "klokot\x00"},
    {"locale": "\u0161\u0107"},
])
def test_odd_inputs_never_fail(client: Open311Client, db: Database,
                               params: dict[str, str]) -> None:
    published(db)
    response = client.get(f"{V2}/requests.json", params=params)
    assert response.status_code in {200, 400, 404}, response.text
    if response.status_code != 200:
        assert_error(response, response.status_code)
    single = client.get(f"{V2}/requests/{quote(params.get('service_request_id', 'x'))}.json")
    assert single.status_code == 404


def test_odd_filings_never_fail(client: Open311Client) -> None:
    key = client.key()
    response = client.file(key, description="Broken\x00 bench in the park of Grnčar",
                           address_string="Grnčar \x00park", first_name="\x00",
                           email="a@b.org\x00")
    assert response.status_code in {201, 400}, response.text
    response = client.file(key, description="Ð" * 4000, address_string="š" * 300,
                           lat=None, long=None, first_name="Ć" * 100, last_name="Ž" * 99,
                           phone="+" + "9" * 63, email="x" * 190 + "@exam.ple")
    assert response.status_code == 201, response.text
