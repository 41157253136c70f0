"""The staff side of surveys through the admin API: a definition checked as
a whole (every problem named, 422), the lifecycle draft → open → closed with
its 409s, the roles (only admin and the information office write), the
audit — and the results: 200 simulated citizens answer a ten-question
survey, most through the engine and some through both apps' real libraries
against the fake platform APIs, and the results, the CSV and the XLSX must
agree exactly with what each of them sent. An anonymous survey keeps nothing
that points at the citizen, anywhere."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text, update

from bot.app import create_app
from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.models import (
    ChannelAccount,
    Citizen,
    OutboxMessage,
    OutboxStatus,
    Survey,
    SurveyResponse,
)
from bot.models.staff import AuditEntry
from bot.profile import get_profile
from bot.services import surveys as service
from bot.staff.export import cell
from tests.admin.conftest import StaffClient
from tests.channels import conftest as channel_fixtures
from tests.channels.conftest import HEADERS_TG, VIBER_TOKEN, Bench
from tests.factories import make_citizen, make_incoming, make_runtime, make_staff, texts
from tests.fakes.telegram_api import FakeTelegramAPI, tg_callback_update, tg_command_update
from tests.fakes.telegram_api import tg_message_update as tg_text
from tests.fakes.viber_api import FakeViberAPI, viber_message_event, viber_signature
from tests.handlers.test_surveys import definition, tr

API = "/api/v1/surveys"
PROFILE = get_profile()
LOCALES = list(PROFILE.enabled_locales)
T = Catalogs()
# The fake Telegram and Viber servers and an app wired to them (tests/channels).
tg = channel_fixtures.tg
viber = channel_fixtures.viber
bench = channel_fixtures.bench


# --- helpers --------------------------------------------------------------------------

def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["detail"], body
    return body


def audit_entries(client: StaffClient, prefix: str = "surveys.") -> list[AuditEntry]:
    with client.db.read_session() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)))


def survey_row(db: Database, slug: str) -> Survey:
    with db.read_session() as session:
        found = session.scalar(select(Survey).where(Survey.slug == slug))
        assert found is not None
        session.expunge(found)
        return found


def onboard(handle: Callable[..., Any], user: str, channel: str, locale: str) -> None:
    handle(None, user=user, channel=channel, payload=f"lang:{locale}")
    handle(None, user=user, channel=channel, payload="privacy:ok")


def engine_of(db: Database) -> Callable[..., str]:
    runtime = make_runtime(db)

    def say(text_: str | None = None, *, user: str, channel: str = "telegram",
            payload: str | None = None) -> str:
        incoming = make_incoming(text_, user=user, channel=channel, payload=payload)
        return texts(runtime.engine.handle(incoming).replies)

    return say


def answer_all(db: Database, slug: str, users: list[tuple[str, str, str]],
               steps: Callable[[int], list[tuple[str, str]]]) -> None:
    """Citizens (user, channel, locale) onboard and take the survey with the
    given presses ("press", payload) and texts ("text", text)."""
    say = engine_of(db)
    for number, (user, channel, locale) in enumerate(users):
        onboard(say, user, channel, locale)
        for kind, value in steps(number):
            if kind == "press":
                say(None, user=user, channel=channel, payload=value)
            else:
                say(value, user=user, channel=channel)


def small_steps(slug: str, comment: str = "Više svetla u Vrbovcu") -> Callable[
        [int], list[tuple[str, str]]]:
    """The four questions of tests/handlers/test_surveys.py's definition()."""
    def steps(number: int) -> list[tuple[str, str]]:
        return [("press", f"srv:{slug}:start"), ("press", f"srv:{slug}:0:v{number % 5 + 1}"),
                ("press", f"srv:{slug}:1:o{number % 2}"), ("press", f"srv:{slug}:2:o0"),
                ("press", f"srv:{slug}:2:done"), ("text", f"{comment} {number}")]
    return steps


def create(client: StaffClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post(API, json=definition(**changes), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def read_xlsx(body: bytes) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(body), read_only=True)
    sheet = book.worksheets[0]
    return [["" if value is None else value for value in row]
            for row in sheet.iter_rows(values_only=True)]


# --- definitions ----------------------------------------------------------------------

def question(**fields: Any) -> dict[str, Any]:
    return {"key": "extra", "type": "text", "text": tr("Extra?"), **fields}


@pytest.mark.parametrize(("change", "extra", "field", "words"), [
    ({"title": {"en": "Only English", "sq": "Vetëm anglisht"}}, None, "title",
     "missing translation: sr_Latn, sr_Cyrl"),
    ({}, question(text={"en": "?", "sr_Latn": "?", "sr_Cyrl": "?"}), "questions[4].text",
     "missing translation: sq"),
    ({}, question(key="satisfaction"), "questions[4].key", "duplicate key 'satisfaction'"),
    ({}, question(type="ranking"), "questions[4].type", "unknown type 'ranking'"),
    ({}, question(type="scale", min=5, max=5), "questions[4].min", "min < max"),
    ({}, question(type="scale", min=7, max=3), "questions[4].min", "min < max"),
    ({}, question(type="single"), "questions[4].options", "needs options"),
    ({}, question(type="multiple", options=[]), "questions[4].options", "needs options"),
    # An option is a button after its tick: one that the phone would cut is refused.
    ({}, question(type="single", options=[
        {"key": "web", "text": tr("Website")},
        {"key": "long", "text": {**tr("x"), "sq": "Faqja e internetit e komunës së Kllokotit"}},
    ]), "questions[4].options[1].text", "over 27 characters (an option is a button on the "
     "phone): sq"),
    ({"opens_at": "2026-12-31T08:00:00+01:00", "closes_at": "2026-12-01T08:00:00+01:00"}, None,
     "closes_at", "must be after opens_at"),
    ({"slug": "Citizens 2026!"}, None, "slug", "must match"),
    ({"slug": "x" * 33}, None, "slug", "must match"),
    ({"audience": {"settlements": [{"not": "a code"}]}}, None, "audience.settlements",
     "klokot"),
    ({"opens_at": "0001-01-01T00:00:00+01:00"}, None, "opens_at", "out of range"),
])
def test_each_problem_of_a_definition_is_a_named_422(
        client: StaffClient, change: dict[str, Any], extra: dict[str, Any] | None, field: str,
        words: str) -> None:
    headers = client.as_role("info_office")
    data = definition(**change)
    if extra is not None:
        data["questions"].append(extra)
    body = problem(client.post(API, json=data, headers=headers), 422, "invalid_definition")
    assert any(e["field"] == field and words in e["msg"] for e in body["errors"]), body
    assert field in body["detail"]
    assert client.get(API, headers=headers).json()["total"] == 0
    assert audit_entries(client) == []


def test_every_problem_is_listed_at_once_with_its_place(client: StaffClient) -> None:
    headers = client.as_role("admin")
    data = definition(slug="Bad Slug", title={"en": "English only"})
    data["questions"][1]["options"][1]["key"] = "web"
    data["questions"].append({"key": "x", "type": "scale", "min": 3, "max": 1,
                              "text": {"en": "?"}})
    body = problem(client.post(API, json=data, headers=headers), 422, "invalid_definition")
    found = {(e["field"], e["msg"]) for e in body["errors"]}
    assert found == {
        ("slug", "must match ^[a-z0-9-]{1,32}$"),
        ("title", "missing translation: sr_Latn, sr_Cyrl, sq"),
        ("questions[1].options[1].key", "duplicate key 'web'"),
        ("questions[4].text", "missing translation: sr_Latn, sr_Cyrl, sq"),
        ("questions[4].min", "min and max are whole numbers, min < max"),
    }
    locs = {e["field"]: e["loc"] for e in body["errors"]}
    assert locs["questions[1].options[1].key"] == ["body", "questions", 1, "options", 1, "key"]
    assert locs["title"] == ["body", "title"]
    assert "5 problem(s)" in body["detail"]
    # Not an object at all: the schema's own validation.
    problem(client.post(API, json=["a", "list"], headers=headers), 422, "validation_error")


def test_control_characters_are_dropped_not_stored(client: StaffClient) -> None:
    headers = client.as_role("admin")
    data = definition()
    data["title"]["en"] = "Citizens\x00 survey\ud800"
    made = client.post(API, content=json.dumps(data).encode(), headers={
        **headers, "Content-Type": "application/json"})
    assert made.status_code == 201, made.text
    assert made.json()["title"]["en"] == "Citizens survey"


# --- create, read, change -------------------------------------------------------------------

def test_create_read_list_and_a_slug_once(client: StaffClient) -> None:
    headers = client.as_role("info_office", username="info1")
    made = create(client, headers, anonymous=False,
                  opens_at="2026-03-01T08:00:00+01:00", closes_at="2099-03-31T20:00:00+02:00",
                  audience={"settlements": ["vrbovac"], "diaspora": True})
    assert made["slug"] == "citizens-2026" and made["status"] == "draft"
    assert made["created_by"] == "info1" and not made["running"]
    assert (made["started"], made["completed"]) == (0, 0)
    assert made["opens_at"].startswith("2026-03-01T07:00:00")  # stored in UTC
    assert [q["key"] for q in made["questions"]] == ["satisfaction", "channel", "topics",
                                                     "comment"]
    assert made["questions"][0] | {"text": None} == {
        "key": "satisfaction", "type": "scale", "required": True, "text": None, "options": [],
        "max_choices": None, "min": 1, "max": 5}
    assert made["questions"][2]["max_choices"] == 2
    assert client.get(f"{API}/citizens-2026", headers=headers).json() == made

    problem(client.post(API, json=definition(title=tr("Again")), headers=headers), 409,
            "slug_taken")
    create(client, headers, slug="website-2026")
    listed = client.get(API, headers=headers).json()
    assert listed["total"] == 2 and [s["slug"] for s in listed["items"]] == [
        "website-2026", "citizens-2026"]
    assert client.get(API, params={"sort": "slug"}, headers=headers).json()["items"][0][
        "slug"] == "citizens-2026"
    assert client.get(API, params={"status": "open"}, headers=headers).json()["total"] == 0
    problem(client.get(f"{API}/no-such", headers=headers), 404, "not_found")

    created = audit_entries(client, "surveys.create")
    assert [e.object_id for e in created] == ["citizens-2026", "website-2026"]
    assert created[0].username == "info1" and created[0].before is None
    assert created[0].after is not None and created[0].after["status"] == "draft"
    assert created[0].after["questions"][1]["options"][1]["key"] == "radio"


def test_replacing_a_definition_until_people_answer(client: StaffClient) -> None:
    headers = client.as_role("info_office")
    create(client, headers)
    changed = definition(slug="ignored-in-the-body", title=tr("Citizens' survey 2026"))
    changed["questions"] = changed["questions"][:3]
    response = client.put(f"{API}/citizens-2026", json=changed, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["slug"] == "citizens-2026"
    assert len(response.json()["questions"]) == 3
    entry = audit_entries(client, "surveys.update")[0]
    assert entry.before is not None and entry.after is not None
    assert len(entry.before["questions"]) == 4 and len(entry.after["questions"]) == 3
    assert entry.after["title"]["en"] == "Citizens' survey 2026"

    bad = definition(title={"en": "x"})
    problem(client.put(f"{API}/citizens-2026", json=bad, headers=headers), 422,
            "invalid_definition")
    problem(client.put(f"{API}/nothing-here", json=definition(), headers=headers), 404,
            "not_found")

    client.post(f"{API}/citizens-2026/publish", headers=headers).raise_for_status()
    slug = "citizens-2026"
    answer_all(client.db, slug, [("bo", "viber", "sq")], lambda _: [
        ("press", f"srv:{slug}:start"), ("press", f"srv:{slug}:0:v2")])  # half-way
    four = definition(title=tr("Citizens' survey 2026"))
    problem(client.put(f"{API}/{slug}", json=four, headers=headers), 409, "has_participants")
    answer_all(client.db, slug, [("ana", "telegram", "en")], lambda _: [
        ("press", f"srv:{slug}:start"), ("press", f"srv:{slug}:0:v4"),
        ("press", f"srv:{slug}:1:o1"), ("press", f"srv:{slug}:2:done")])
    assert client.get(f"{API}/{slug}", headers=headers).json()["completed"] == 1
    frozen = definition(title=tr("Citizens' survey 2026"))  # four questions again
    problem(client.put(f"{API}/{slug}", json=frozen, headers=headers), 409, "has_responses")
    same = {**changed, "title": tr("A new title")}
    assert client.put(f"{API}/{slug}", json=same, headers=headers).json()["title"] == tr(
        "A new title")
    client.post(f"{API}/{slug}/close", headers=headers).raise_for_status()
    problem(client.put(f"{API}/{slug}", json=same, headers=headers), 409, "survey_closed")
    assert len(audit_entries(client, "surveys.update")) == 2


def test_publish_invite_and_close(client: StaffClient) -> None:
    headers = client.as_role("admin")
    make_citizen(client.db, external_id="11", language="en", settlement="klokot")
    make_citizen(client.db, external_id="12", language="sq", settlement="vrbovac")
    make_citizen(client.db, channel="viber", external_id="v13", language="sr_Cyrl",
                 settlement="vrbovac")
    make_citizen(client.db, external_id="14", language="en", settlement="abroad")
    with client.db.session() as session:  # Viber: not outside a 24-hour session
        session.execute(update(ChannelAccount).where(ChannelAccount.external_id == "v13")
                        .values(last_inbound_at=utcnow() - timedelta(days=2)))
    create(client, headers, audience={"settlements": ["vrbovac"], "diaspora": True})
    published = client.post(f"{API}/citizens-2026/publish", json={"invite": True},
                            headers=headers)
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["status"] == "open" and body["running"] and body["invited"] == 3
    assert body["published_at"] and body["invited_at"]
    with client.db.read_session() as session:
        messages = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    # The silent Viber citizen's invitation waits for their next message.
    assert sorted((m.chat_id, m.status) for m in messages) == [
        ("12", OutboxStatus.queued), ("14", OutboxStatus.queued), ("v13", OutboxStatus.held)]
    assert all(m.body["buttons"][0][0]["payload"] == "srv:citizens-2026:start"
               for m in messages)
    problem(client.post(f"{API}/citizens-2026/publish", headers=headers), 409, "not_draft")

    create(client, headers, slug="quiet")
    quiet = client.post(f"{API}/quiet/publish", headers=headers).json()
    assert quiet["invited"] is None and quiet["invited_at"] is None
    later = client.post(f"{API}/quiet/invite", headers=headers)  # invited afterwards
    assert later.status_code == 200 and later.json()["invited"] == 4  # no audience limit
    problem(client.post(f"{API}/quiet/invite", headers=headers), 409, "already_invited")

    past = (utcnow() - timedelta(days=1)).isoformat()
    create(client, headers, slug="too-late", closes_at=past)
    problem(client.post(f"{API}/too-late/publish", headers=headers), 409, "closes_in_past")

    closed = client.post(f"{API}/citizens-2026/close", headers=headers)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert not closed.json()["running"] and closed.json()["closed_at"]
    problem(client.post(f"{API}/citizens-2026/close", headers=headers), 409, "already_closed")
    problem(client.post(f"{API}/citizens-2026/publish", headers=headers), 409, "not_draft")
    problem(client.post(f"{API}/nope/close", headers=headers), 404, "not_found")
    problem(client.post(f"{API}/quiet/publish", json={"invite": "maybe"}, headers=headers),
            422, "validation_error")
    assert client.get(API, params={"status": "closed"}, headers=headers).json()["total"] == 1

    entries = [(e.action, e.object_id, e.before, e.after)
               for e in audit_entries(client) if e.action != "surveys.create"]
    assert entries == [
        ("surveys.publish", "citizens-2026", {"status": "draft"},
         {"status": "open", "invited": 3}),
        ("surveys.publish", "quiet", {"status": "draft"}, {"status": "open", "invited": None}),
        ("surveys.invite", "quiet", None, {"invited": 4}),
        ("surveys.close", "citizens-2026", {"status": "open"}, {"status": "closed"}),
    ]


@pytest.mark.parametrize("role", ["viewer", "mayor_office", "department"])
def test_other_roles_read_but_do_not_write(client: StaffClient, role: str) -> None:
    writer = client.as_role("info_office")
    create(client, writer)
    headers = client.as_role(role, "cadastre_urbanism" if role == "department" else None)
    for path in (API, f"{API}/citizens-2026", f"{API}/citizens-2026/results",
                 f"{API}/citizens-2026/results.csv", f"{API}/citizens-2026/results.xlsx"):
        assert client.get(path, headers=headers).status_code == 200, path
    problem(client.post(API, json=definition(slug="mine"), headers=headers), 403, "forbidden")
    problem(client.put(f"{API}/citizens-2026", json=definition(), headers=headers), 403,
            "forbidden")
    problem(client.post(f"{API}/citizens-2026/publish", headers=headers), 403, "forbidden")
    problem(client.post(f"{API}/citizens-2026/close", headers=headers), 403, "forbidden")
    problem(client.get(API), 401, "not_authenticated")
    assert survey_row(client.db, "citizens-2026").status.value == "draft"
    assert [e.action for e in audit_entries(client)] == [
        "surveys.create", "surveys.export", "surveys.export"]


# --- results ------------------------------------------------------------------------------

def test_results_filter_a_named_survey_and_page_its_texts(client: StaffClient) -> None:
    headers = client.as_role("viewer")
    writer = client.as_role("info_office")
    create(client, writer, anonymous=False)
    client.post(f"{API}/citizens-2026/publish", headers=writer).raise_for_status()
    slug = "citizens-2026"
    users = [(f"u{n}", "telegram" if n % 2 else "viber", LOCALES[n % 4]) for n in range(8)]
    answer_all(client.db, slug, users, small_steps(slug, "=cmd|' /C calc'!A0"))
    path = f"{API}/{slug}/results"

    everything = client.get(path, headers=headers).json()
    assert (everything["started"], everything["completed"]) == (8, 8)
    assert everything["note"] is None
    by_viber = client.get(path, params={"channel": "viber"}, headers=headers).json()
    assert by_viber["completed"] == 4 and by_viber["started"] == 8
    assert by_viber["filters"] == {"settlement": None, "channel": "viber", "language": None}
    scale = by_viber["questions"][0]  # viber are n = 0, 2, 4, 6: values 1, 3, 5, 2
    assert scale["distribution"] == {"1": 1, "2": 1, "3": 1, "4": 0, "5": 1}
    assert scale["mean"] == 2.75
    sq = client.get(path, params={"language": "sq"}, headers=headers).json()
    assert sq["completed"] == 2  # n = 2, 6
    assert sq["questions"][1]["options"] == [
        {"key": "web", "text": tr("Website"), "count": 2, "percent": 100.0},
        {"key": "radio", "text": tr("Radio"), "count": 0, "percent": 0.0}]
    problem(client.get(path, params={"language": "de"}, headers=headers), 422,
            "invalid_filter")
    problem(client.get(path, params={"settlement": "belgrade"}, headers=headers), 422,
            "invalid_filter")

    texts_ = client.get(path, params={"text_limit": 3, "text_offset": 2}, headers=headers
                        ).json()["questions"][3]["texts"]
    assert texts_ == {"items": [f"=cmd|' /C calc'!A0 {n}" for n in (2, 3, 4)], "total": 8,
                      "limit": 3, "offset": 2}
    rows = read_csv(client.get(f"{path}.csv", params={"channel": "telegram"},
                               headers=headers).content)
    assert rows[0] == ["response", "completed_on", "channel", "language", "settlement",
                       "satisfaction", "channel", "topics", "comment"]
    assert [r[2] for r in rows[1:]] == ["telegram"] * 4
    assert rows[1][8] == "'=cmd|' /C calc'!A0 1"  # never a formula
    assert read_xlsx(client.get(f"{path}.xlsx", params={"channel": "telegram"},
                                headers=headers).content)[1][8] == "'=cmd|' /C calc'!A0 1"
    exports = audit_entries(client, "surveys.export")
    assert [(e.username, e.object_id) for e in exports] == [("viewer-x", slug)] * 2
    assert exports[0].detail == "csv, 4 rows, filters {'channel': 'telegram'}"
    assert exports[1].detail == "xlsx, 4 rows, filters {'channel': 'telegram'}"


# --- the big one: 200 citizens, ten questions ----------------------------------------------

SEED = 20260307
BIG = "big-2026"
CITIZENS, THROUGH_LIBRARIES = 200, 10
SETTLEMENTS = ["klokot", "vrbovac", "grncar", "mogila", "abroad", None]
PHRASES = ["Više svetla u Vrbovcu", "Треба поправити пут", "Më shumë autobusë për Kllokot",
           "Fix the bridge near Mogila", "=1+1 formula", "+381 broj", "-minus start",
           "@opstina hvala", "Čistiji park, molim", "Ujë më i mirë në Gërnçar"]


def big_definition() -> dict[str, Any]:
    def options(*keys: str) -> list[dict[str, Any]]:
        return [{"key": k, "text": tr(k.replace("_", " ").title())} for k in keys]

    questions = [
        {"key": "satisfaction", "type": "scale", "min": 1, "max": 5, "required": True},
        {"key": "news", "type": "single", "required": True,
         "options": options("web", "radio", "tv", "neighbours")},
        {"key": "topics", "type": "multiple", "max_choices": 3, "required": False,
         "options": options("roads", "water", "jobs", "schools", "health")},
        {"key": "comment", "type": "text", "required": False},
        {"key": "recommend", "type": "scale", "min": 0, "max": 10, "required": False},
        {"key": "visits", "type": "single", "required": False,
         "options": options("never", "yearly", "monthly")},
        {"key": "services", "type": "multiple", "max_choices": 2, "required": True,
         "options": options("documents", "reception", "complaints", "notices")},
        {"key": "idea", "type": "text", "required": True},
        {"key": "website", "type": "scale", "min": 1, "max": 3, "required": True},
        {"key": "age", "type": "single", "required": True,
         "options": options("under_25", "from_25_to_40", "from_40_to_65", "over_65",
                            "no_answer")},
    ]
    for q in questions:
        q["text"] = tr(f"Question about {q['key']}?")
    return {"slug": BIG, "title": tr("The big survey"), "anonymous": False,
            "questions": questions}


@dataclass
class Citizen_:
    """One simulated citizen: who, where, and exactly what they sent."""

    user: str
    channel: str
    locale: str
    settlement: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)


def plan(rng: random.Random, user: str, channel: str, locale: str,
         settlement: str | None) -> Citizen_:
    """What a citizen presses and types, chosen at random (deterministically),
    and the answers that must come out: a later choice replaces an earlier
    one after "back", skipped questions are absent, an optional multiple
    choice left empty is an empty list."""
    who = Citizen_(user, channel, locale, settlement)
    questions = big_definition()["questions"]
    who.steps.append(("press", f"srv:{BIG}:start"))
    went_back = False
    i = 0
    while i < len(questions):
        q, base = questions[i], f"srv:{BIG}:{i}"
        if i == 1 and not went_back and rng.random() < 0.1:
            who.steps.append(("press", f"{base}:back"))
            went_back, i = True, 0
            continue
        if not q["required"] and rng.random() < 0.2:
            who.steps.append(("press", f"{base}:skip"))
            i += 1
            continue
        if q["type"] == "scale":
            value = rng.randint(q["min"], q["max"])
            who.steps.append(("press", f"{base}:v{value}"))
            who.answers[q["key"]] = value
        elif q["type"] == "single":
            j = rng.randrange(len(q["options"]))
            who.steps.append(("press", f"{base}:o{j}"))
            who.answers[q["key"]] = q["options"][j]["key"]
        elif q["type"] == "multiple":
            picks = rng.sample(range(len(q["options"])),
                               rng.randint(1 if q["required"] else 0, q["max_choices"]))
            who.steps += [("press", f"{base}:o{j}") for j in picks]
            who.steps.append(("press", f"{base}:done"))
            who.answers[q["key"]] = [q["options"][j]["key"] for j in picks]
        else:
            said = f"{rng.choice(PHRASES)} {rng.randint(1, 999)}"
            who.steps.append(("text", said))
            who.answers[q["key"]] = said
        i += 1
    return who


def citizens_of(seed: int = SEED) -> list[Citizen_]:
    rng = random.Random(seed)
    people = []
    for n in range(CITIZENS):
        library = n < THROUGH_LIBRARIES
        channel = ("telegram" if n % 2 == 0 else "viber")
        user = (str(70_000 + n) if channel == "telegram" else f"vSrv{n}==") if library \
            else f"{channel[0]}-{n}"
        people.append(plan(rng, user, channel, LOCALES[n % 4], rng.choice(SETTLEMENTS)))
    return people


def given(answer: Any) -> bool:
    return answer not in (None, "", [])


def expected_results(people: list[Citizen_]) -> list[dict[str, Any]]:
    """The results computed from what was sent, independently of the service."""
    out = []
    for q in big_definition()["questions"]:
        answers = [p.answers[q["key"]] for p in people if given(p.answers.get(q["key"]))]
        entry: dict[str, Any] = {"key": q["key"], "answered": len(answers)}
        if q["type"] in ("single", "multiple"):
            counts = Counter(c for a in answers for c in (a if isinstance(a, list) else [a]))
            entry["options"] = [(o["key"], counts[o["key"]],
                                 round(100 * counts[o["key"]] / len(answers), 1))
                                for o in q["options"]]
        elif q["type"] == "scale":
            entry["distribution"] = {str(v): answers.count(v)
                                     for v in range(q["min"], q["max"] + 1)}
            entry["mean"] = round(sum(answers) / len(answers), 2)
        else:
            entry["texts"] = answers
        out.append(entry)
    return out


def actual_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for q in body["questions"]:
        entry: dict[str, Any] = {"key": q["key"], "answered": q["answered"]}
        if q["type"] in ("single", "multiple"):
            entry["options"] = [(o["key"], o["count"], o["percent"]) for o in q["options"]]
        elif q["type"] == "scale":
            entry["distribution"], entry["mean"] = q["distribution"], q["mean"]
        else:
            entry["texts"] = q["texts"]["items"]
            assert q["texts"]["total"] == q["answered"]
        out.append(entry)
    return out


def expected_table(people: list[Citizen_], when: date) -> list[list[Any]]:
    keys = [q["key"] for q in big_definition()["questions"]]
    table = []
    for number, p in enumerate(people, start=1):
        line: list[Any] = [number, when.isoformat(), p.channel, p.locale, p.settlement or ""]
        for key in keys:
            answer = p.answers.get(key)
            line.append(";".join(answer) if isinstance(answer, list)
                        else "" if answer is None else answer)
        table.append(line)
    return table


async def through_the_libraries(bench: Bench, tg: FakeTelegramAPI, viber: FakeViberAPI,
                                people: list[Citizen_]) -> None:
    """Telegram updates and signed Viber callbacks, as the platforms send them."""
    update_ids = iter(range(1, 10_000))

    async def send(who: Citizen_, kind: str, value: str) -> None:
        if who.channel == "telegram":
            user = int(who.user)
            update = (tg_callback_update(next(update_ids), user, value) if kind == "press"
                      else tg_command_update(next(update_ids), user, value)
                      if value.startswith("/") else tg_text(next(update_ids), user, value))
            response = await bench.client.post("/webhooks/telegram", json=update,
                                               headers=HEADERS_TG)
        else:
            body = json.dumps(viber_message_event(who.user, value, language="en")).encode()
            response = await bench.client.post("/webhooks/viber", content=body, headers={
                "X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200, response.text

    for who in people:
        for kind, value in [("text", "/start"), ("press", f"lang:{who.locale}"),
                            ("press", "privacy:ok")]:
            await send(who, kind, value)
    settle(bench.runtime.db, people)
    for who in people:
        # /survey offers the button (on Viber a press is a text: only one offered counts)
        for kind, value in [("text", "/survey"), *who.steps]:
            await send(who, kind, value)
    await bench.deliver()
    said = [str(c.params.get("text")) for c in tg.delivered("sendMessage")]
    said += [str(c.params.get("text")) for c in viber.delivered("send_message")]
    for who in people:
        assert T.gettext(who.locale, "surveys.thanks") in said, who.user


def settle(db: Database, people: list[Citizen_]) -> None:
    """Where each lives (what the other flows would have asked)."""
    with db.session() as session:
        for who in people:
            citizen_id = session.scalar(select(ChannelAccount.citizen_id).where(
                ChannelAccount.channel == who.channel, ChannelAccount.external_id == who.user))
            assert citizen_id is not None, who.user
            session.execute(update(Citizen).where(Citizen.id == citizen_id).values(
                settlement=who.settlement))


def through_the_engine(db: Database, people: list[Citizen_]) -> None:
    """Each takes the survey and is thanked (with no count: #13, item 12)."""
    say = engine_of(db)
    for who in people:
        onboard(say, who.user, who.channel, who.locale)
    settle(db, people)
    stale = {T.gettext(loc, key) for loc in LOCALES
             for key in ("error.stale_button", "surveys.use_buttons", "surveys.other_question")}
    for who in people:
        replies = [say(value if kind == "text" else None, user=who.user, channel=who.channel,
                       payload=value if kind == "press" else None)
                   for kind, value in who.steps]
        assert not any(s in r for r in replies for s in stale), (who.user, replies)
        assert T.gettext(who.locale, "surveys.thanks") in replies[-1]


async def test_two_hundred_citizens_and_the_results_agree_exactly(
        db: Database, bench: Bench, tg: FakeTelegramAPI, viber: FakeViberAPI,
        client: StaffClient) -> None:
    headers = client.as_role("info_office")
    made = client.post(API, json=big_definition(), headers=headers)
    assert made.status_code == 201, made.text
    client.post(f"{API}/{BIG}/publish", headers=headers).raise_for_status()
    people = citizens_of()
    assert len({p.user for p in people}) == CITIZENS
    assert sum(1 for p in people if any(s[1].endswith(":back") for s in p.steps)) > 5

    await through_the_libraries(bench, tg, viber, people[:THROUGH_LIBRARIES])
    through_the_engine(db, people[THROUGH_LIBRARIES:])
    today = utcnow().date()

    with db.read_session() as session:
        stored = [r.answers for r in session.scalars(
            select(SurveyResponse).order_by(SurveyResponse.id))]
    assert stored == [p.answers for p in people]  # each, in the order they finished

    body = client.get(f"{API}/{BIG}/results", params={"text_limit": 200},
                      headers=headers).json()
    assert (body["started"], body["completed"]) == (CITIZENS, CITIZENS)
    assert actual_results(body) == expected_results(people)
    assert client.get(f"{API}/{BIG}", headers=headers).json()["completed"] == CITIZENS

    for name, value in (("channel", "viber"), ("language", "sq"), ("settlement", "vrbovac"),
                        ("settlement", "abroad")):
        part = [p for p in people if getattr(p, {"language": "locale"}.get(name, name)) == value]
        filtered = client.get(f"{API}/{BIG}/results", headers=headers,
                              params={name: value, "text_limit": 200}).json()
        assert filtered["completed"] == len(part) > 0
        assert actual_results(filtered) == expected_results(part), (name, value)

    table = expected_table(people, today)
    header = ["response", "completed_on", "channel", "language", "settlement",
              *(q["key"] for q in big_definition()["questions"])]
    rows = read_csv(client.get(f"{API}/{BIG}/results.csv", headers=headers).content)
    assert rows[0] == header
    assert rows[1:] == [[cell(v) for v in line] for line in table]
    sheet = read_xlsx(client.get(f"{API}/{BIG}/results.xlsx", headers=headers).content)
    assert sheet[0] == header
    assert sheet[1:] == [[v if isinstance(v, int) else cell(v) for v in line]
                         for line in table]
    viber_rows = read_csv(client.get(f"{API}/{BIG}/results.csv", params={"channel": "viber"},
                                     headers=headers).content)
    assert [r[5:] for r in viber_rows[1:]] == [[cell(v) for v in line[5:]]
                                              for line in table if line[2] == "viber"]
    assert [e.detail for e in audit_entries(client, "surveys.export")] == [
        f"csv, {CITIZENS} rows", f"xlsx, {CITIZENS} rows",
        f"csv, {sum(p.channel == 'viber' for p in people)} rows, filters "
        "{'channel': 'viber'}"]


# --- anonymity ------------------------------------------------------------------------------

def test_an_anonymous_survey_keeps_and_shows_nothing_about_who_answered(
        client: StaffClient) -> None:
    headers = client.as_role("admin")
    create(client, headers)  # anonymous by default
    client.post(f"{API}/citizens-2026/publish", headers=headers).raise_for_status()
    slug = "citizens-2026"
    users = [(f"anon-{n}", ("telegram", "viber")[n % 2], LOCALES[n % 4]) for n in range(6)]
    answer_all(client.db, slug, users, small_steps(slug))
    with client.db.session() as session:  # they live somewhere
        session.execute(update(Citizen).values(settlement="vrbovac", full_name="Arta Krasniqi",
                                               phone="+38344111222"))
        citizens = list(session.scalars(select(Citizen)))
        survey = session.scalars(select(Survey)).one()
        session.expunge_all()
    assert len(citizens) == 6

    with client.db.read_session() as session:
        responses = [dict(row._mapping) for row in session.execute(
            text("SELECT * FROM survey_response"))]
        participants = [dict(row._mapping) for row in session.execute(
            text("SELECT * FROM survey_participant"))]
    assert len(responses) == 6 and len(participants) == 6
    for row in responses:
        assert set(row) == {"id", "survey_id", "citizen_id", "channel", "language", "settlement",
                            "completed_on", "completed_at", "answers", "mixed"}
        assert (row["citizen_id"], row["channel"], row["language"], row["settlement"],
                row["completed_at"]) == (None, None, None, None, None)
        assert ":" not in str(row["completed_on"])  # a day, never a time
    with client.db.read_session() as session:
        markers = [dict(row._mapping) for row in session.execute(
            text("SELECT * FROM survey_marker"))]
        accounts = list(session.scalars(select(ChannelAccount)))
        session.expunge_all()
    key = make_runtime(client.db).settings.resolved_survey_key()
    assert set(participants[0]) == {"id", "survey_id", "token", "started_on", "completed"}
    assert {row["token"] for row in participants} == {None}
    assert set(markers[0]) == {"id", "survey_id", "participant_id", "marker"}
    marked = {row["marker"] for row in markers}
    assert marked == {service.marker(key, survey, a) for a in accounts}
    for a in accounts:  # without the survey key the marker leads nowhere
        for guess in (f"survey:{survey.id}:{a.channel}:{a.external_id}", a.external_id,
                      f"{survey.id}:{a.citizen_id}"):
            assert hashlib.sha256(guess.encode()).hexdigest() not in marked
        assert service.marker("another-survey-key-0123456789", survey, a) not in marked

    results = client.get(f"{API}/{slug}/results", params={"channel": "telegram",
                                                          "settlement": "klokot"},
                         headers=headers).json()
    assert results["completed"] == 6  # filters ignored …
    assert results["note"] and "anonymous" in results["note"]  # … and it says so
    assert results["filters"] == {"settlement": None, "channel": None, "language": None}
    csv_rows = read_csv(client.get(f"{API}/{slug}/results.csv", headers=headers).content)
    sheet = read_xlsx(client.get(f"{API}/{slug}/results.xlsx", headers=headers).content)
    assert csv_rows[0] == sheet[0] == ["completed_on", "satisfaction", "channel", "topics",
                                       "comment"]  # no number that follows arrival
    shown = json.dumps([results, csv_rows, [[str(v) for v in r] for r in sheet]],
                       ensure_ascii=False)
    exported = json.dumps([csv_rows, [[str(v) for v in r] for r in sheet]])
    for word in (*(user for user, _, _ in users), "telegram", "viber", "vrbovac", "Arta",
                 "+38344"):
        assert word not in shown, word
    for locale in ("sr_Latn", "sr_Cyrl"):
        assert locale not in exported
    assert all(":" not in str(r[0]) for r in csv_rows[1:] + sheet[1:])


# --- the contract with real surveys --------------------------------------------------------

def test_the_survey_operations_keep_their_contract_on_real_surveys(db: Database) -> None:
    """Schemathesis with the slug pinned to existing surveys (the general
    run only meets 404s): never 500, answers as the schema says; a 422 to a
    schema-valid body only for the definition's own problems."""
    import schemathesis
    from hypothesis import HealthCheck, settings
    from hypothesis import given as for_all
    from hypothesis import strategies as st
    from schemathesis.checks import positive_data_acceptance

    from tests.admin.test_schemathesis import DEFINITION_BODIES, definition_problems_are_named

    app = create_app(runtime=make_runtime(db, login_delay_seconds=0.0), run_sender=False)
    make_staff(db, "schema-admin", "admin")
    client = StaffClient(app)
    headers = {"Authorization": f"Bearer {client.token_for('schema-admin')}"}
    for slug, publish, close in (("draft-one", False, False), ("open-one", True, False),
                                 ("closed-one", True, True)):
        client.post(API, json=definition(slug=slug, anonymous=slug != "open-one"),
                    headers=headers).raise_for_status()
        if publish:
            client.post(f"{API}/{slug}/publish", headers=headers).raise_for_status()
        if slug == "open-one":
            answer_all(db, slug, [("c1", "telegram", "sq"), ("c2", "viber", "en")],
                       small_steps(slug))
        if close:
            client.post(f"{API}/{slug}/close", headers=headers).raise_for_status()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    everything = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    operations = [op for op in everything if op.path.startswith(API)]
    assert len(operations) == 10
    seen: Counter[tuple[str, int]] = Counter()
    slugs = ["draft-one", "open-one", "closed-one"]
    for operation in operations:
        def pinned(case: schemathesis.Case, slug: str) -> schemathesis.Case:
            if "slug" in case.path_parameters:
                case.path_parameters["slug"] = slug
            return case

        @for_all(case=st.builds(pinned, operation.as_strategy(), st.sampled_from(slugs)))
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            if case.operation.label in DEFINITION_BODIES:
                response = case.call_and_validate(
                    headers=headers, excluded_checks=[positive_data_acceptance],
                    additional_checks=[definition_problems_are_named])
            else:
                response = case.call_and_validate(headers=headers)
            seen[(case.operation.label, response.status_code)] += 1

        check()

    for operation in operations:
        codes = {code for label, code in seen if label == operation.label}
        assert codes and 500 not in codes, operation.label
        if operation.method.upper() == "GET":
            assert any(200 <= code < 300 for code in codes), (operation.label, codes)


# --- anonymity: nothing that follows arrival (#13, item 12) ---------------------------------

def test_anonymous_answers_leave_in_no_order_that_follows_their_arrival(
        client: StaffClient) -> None:
    """Twelve citizens answer one after the other, the n-th writing "… n". The
    thank-you each got holds no running count (it was their row number in the
    export); the exports, the stored rows and the results' texts keep no
    order of arrival and no number that follows it."""
    headers = client.as_role("admin")
    create(client, headers)  # anonymous by default
    slug = "citizens-2026"
    client.post(f"{API}/{slug}/publish", headers=headers).raise_for_status()
    users = [(f"late-{n}", "telegram", "en") for n in range(12)]
    answer_all(client.db, slug, users, small_steps(slug, comment="answer"))
    arrival = [f"answer {n}" for n in range(12)]

    with client.db.read_session() as session:
        thanks = [m.body["text"] for m in session.scalars(select(OutboxMessage))
                  if m.body["text"].startswith(T.gettext("en", "surveys.thanks")[:8])]
        stored = [r.answers["comment"] for r in session.scalars(
            select(SurveyResponse).order_by(SurveyResponse.id))]
    assert thanks == [T.gettext("en", "surveys.thanks")] * 12  # no count, all alike
    assert sorted(stored) == sorted(arrival) and stored != arrival  # ids do not follow arrival

    exports = [read_csv(client.get(f"{API}/{slug}/results.csv", headers=headers).content)
               for _ in range(2)]
    exports += [[[str(v) for v in row] for row in read_xlsx(
        client.get(f"{API}/{slug}/results.xlsx", headers=headers).content)]
        for _ in range(2)]
    for rows in exports:
        assert rows[0] == ["completed_on", "satisfaction", "channel", "topics", "comment"]
        comments = [row[-1] for row in rows[1:]]
        assert sorted(comments) == sorted(arrival) and comments != arrival

    body = client.get(f"{API}/{slug}/results", headers=headers).json()
    listed = body["questions"][3]["texts"]["items"]
    assert sorted(listed) == sorted(arrival) and listed != arrival
