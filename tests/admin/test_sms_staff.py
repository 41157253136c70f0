"""Registering an older citizen for SMS at the counter (issue #19), as staff
do it: through the "Register for SMS" page (signed in, with CSRF) and the
API; what a mistake looks like (the form again with what to fix, 4xx in the
API, never a 500); who may do it; stopping a number when the citizen asks;
and what follows: the next notice of a chosen topic is an SMS row in the
outbox (the short form staff wrote, or the text's beginning with the
municipality's name), and the notice's preview says what it costs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from bot.i18n import Catalogs
from bot.models import ChannelAccount, Citizen, OutboxMessage, Subscription
from bot.models.sms import SmsConsentSource, SmsSubscription
from bot.profile import get_profile
from tests.admin.conftest import StaffClient
from tests.admin.test_notices_api import deliver, problem
from tests.admin.test_pages import csrf_of, sign_in
from tests.admin.test_reception_pages import no_inline_code
from tests.factories import make_staff
from tests.handlers.test_notices import TEXTS, subscriber

PAGE = "/staff/sms"
API = "/api/v1/sms/subscribers"
PROFILE = get_profile()
T = Catalogs()
# A registration's rules refuse what the schema cannot say (a number that is
# not one, one registered already): 422 or 409 with the rule's code.
RULE_BODIES = {f"POST {API}"}
RULE_CODES = {"invalid_phone", "unknown_settlement", "unknown_language", "unknown_topic",
              "no_topic", "invalid_source"}
pytestmark = [pytest.mark.clock, pytest.mark.usefixtures("noon")]


def rules_are_named(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schemathesis check: a 422 to a schema-valid registration is one of its rules."""
    if response.status_code == 422:
        found = json.loads(response.content)
        assert found["code"] in RULE_CODES and found["errors"], response.text
    return None


def registration(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"phone": "044 123 456", "settlement": "vrbovac",
                            "language": "sr_Latn", "topics": ["public_debates"],
                            "source": "counter"}
    body.update(change)
    return body


def page_form(csrf: str, **change: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"csrf_token": csrf, "phone": "044 123 456", "settlement": "vrbovac",
                            "language": "sr_Latn", "topics": ["public_debates", "emergencies"],
                            "source": "counter", "consent": "yes"}
    data.update(change)
    return {k: v for k, v in data.items() if v is not None}


def sms_rows(client: StaffClient, purpose: str | None = None) -> list[OutboxMessage]:
    """The SMS queued (for one purpose: "notice", …), oldest first."""
    query = select(OutboxMessage).where(OutboxMessage.channel == "sms")
    if purpose is not None:
        query = query.where(OutboxMessage.purpose == purpose)
    with client.db.read_session() as session:
        rows = list(session.scalars(query.order_by(OutboxMessage.id)))
        for row in rows:
            session.expunge(row)
        return rows


def test_an_officer_registers_a_citizen_at_the_counter_through_the_page(
        client: StaffClient) -> None:
    make_staff(client.db, "desk1", "info_office")
    dashboard = sign_in(client, "desk1")
    assert 'href="/staff/sms"' in dashboard
    form = client.get(f"{PAGE}/new")
    assert form.status_code == 200, form.text
    no_inline_code(form.text)
    assert 'name="phone"' in form.text and 'name="topics" value="public_debates"' in form.text
    assert 'name="settlement"' in form.text and 'value="counter"' in form.text
    csrf = csrf_of(form.text)

    # A form from elsewhere (no CSRF token) changes nothing.
    assert client.post(f"{PAGE}/new", data=page_form("")).status_code == 403
    done = client.post(f"{PAGE}/new", data=page_form(csrf), follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?done=registered"
    listed = client.get(done.headers["location"])
    assert listed.status_code == 200
    no_inline_code(listed.text)
    row = listed.text.split('id="sms-list"')[1]
    assert "+38344123456" in row and "Vrbovac" in row and "desk1" in row
    assert "At the counter" in row and "Active" in row

    with client.db.read_session() as session:
        sub = session.scalars(select(SmsSubscription)).one()
        account = session.get(ChannelAccount, sub.account_id)
        assert account is not None and account.channel == "sms"
        citizen = session.get(Citizen, account.citizen_id)
        assert citizen is not None
        assert (citizen.language, citizen.settlement, citizen.phone) == (
            "sr_Latn", "vrbovac", "+38344123456")
        assert sub.source is SmsConsentSource.counter and sub.registered_by == "desk1"
        assert sorted(session.scalars(select(Subscription.topic).where(
            Subscription.citizen_id == citizen.id))) == ["emergencies", "public_debates"]
    assert "sms.register" in actions_of(client)
    # The number hears at once what it signed up for and how to stop (and so
    # the officer learns a mistyped number before the first notice is lost).
    [welcome] = sms_rows(client)
    assert welcome.chat_id == "+38344123456" and welcome.body["locale"] == "sr_Latn"
    assert welcome.body["text"] == T.gettext(
        "sr_Latn", "sms.welcome", municipality=PROFILE.municipality_name("sr_Latn"),
        topics="Javne rasprave, Hitna obaveštenja")

    # The same number again, a number that is not one, no consent, no topic, an
    # unknown settlement: the form again, saying what to fix, the input kept.
    again = client.post(f"{PAGE}/new", data=page_form(csrf, phone="+383 44 123 456"))
    assert again.status_code == 409 and "registered for SMS already" in again.text
    for change, status, said in (
            ({"phone": "12"}, 422, "This is not a phone number"),
            ({"phone": "044 999 888", "consent": None}, 422, "Confirm that the citizen agrees"),
            ({"phone": "044 999 888", "topics": None}, 422, "at least one topic"),
            ({"phone": "044 999 888", "settlement": "atlantis"}, 422, "settlement from the list"),
            ({"phone": "044 999 888", "topics": ["lottery"]}, 422, "topics from the list"),
            ({"phone": "044 999 888", "source": "pigeon"}, 422, "counter or on the phone")):
        refused = client.post(f"{PAGE}/new", data=page_form(csrf, **change))
        assert refused.status_code == status, (change, refused.text[:300])
        assert said in refused.text and 'id="form-error"' in refused.text
        assert 'value="' + str(change.get("phone", "044 123 456")) + '"' in refused.text
    with client.db.read_session() as session:
        assert len(session.scalars(select(SmsSubscription)).all()) == 1

    # The citizen asks to stop: a button on the list.
    stop = client.post(f"{PAGE}/{sub.id}/stop", data={"csrf_token": csrf},
                       follow_redirects=False)
    assert stop.status_code == 303
    listed = client.get(stop.headers["location"]).text
    assert "Stopped" in listed.split('id="sms-list"')[1]
    assert f'id="stop-{sub.id}"' not in listed
    with client.db.read_session() as session:
        stopped = session.get(SmsSubscription, sub.id)
        account = session.get(ChannelAccount, sub.account_id)
        assert stopped is not None and stopped.stopped_at is not None
        assert account is not None and account.blocked_at is not None
    assert client.post(f"{PAGE}/{sub.id}/stop", data={"csrf_token": csrf}).status_code == 409
    # Registered again at the counter: active again.
    back = client.post(f"{PAGE}/new", data=page_form(csrf), follow_redirects=False)
    assert back.status_code == 303
    assert "Active" in client.get(PAGE + "?state=active").text.split('id="sms-list"')[1]


def actions_of(client: StaffClient) -> list[str]:
    from tests.admin.test_notices_api import audit_entries
    return [e.action for e in audit_entries(client, "sms.")]


def test_the_api_registers_lists_and_stops(client: StaffClient) -> None:
    headers = client.as_role("mayor_office")
    made = client.post(API, json=registration(source="phone"), headers=headers)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["phone"] == "+38344123456" and body["active"] is True
    assert body["source"] == "phone" and body["registered_by"] == "mayor-office-x"
    assert body["topics"] == ["public_debates"] and body["chat"] is False

    problem(client.post(API, json=registration(phone="044-123-456"), headers=headers),
            409, "already_registered")
    for change, code in (({"phone": "hello"}, "invalid_phone"),
                         ({"settlement": "nowhere"}, "unknown_settlement"),
                         ({"language": "de"}, "unknown_language"),
                         ({"topics": ["lottery"]}, "unknown_topic")):
        found = problem(client.post(API, json=registration(**{"phone": "049 555 444", **change}),
                                    headers=headers), 422, code)
        assert found["errors"][0]["loc"][1] == next(iter(change))
    schema = client.post(API, json=registration(source="keyword"), headers=headers)
    assert schema.status_code == 422
    assert client.post(API, json=registration(topics=[]), headers=headers).status_code == 422

    listed = client.get(API, headers=headers, params={"state": "active"})
    assert listed.status_code == 200 and listed.json()["total"] == 1
    assert client.get(API, headers=headers, params={"settlement": "mars"}).status_code == 422
    stopped = client.post(f"{API}/{body['id']}/stop", headers=headers)
    assert stopped.status_code == 200 and stopped.json()["active"] is False
    problem(client.post(f"{API}/{body['id']}/stop", headers=headers), 409, "already_stopped")
    problem(client.post(f"{API}/999999/stop", headers=headers), 404, "not_found")
    assert client.get(API, headers=headers, params={"state": "active"}).json()["total"] == 0
    assert actions_of(client) == ["sms.register", "sms.view", "sms.stop"]


@pytest.mark.parametrize("role", ["department", "viewer"])
def test_a_role_that_may_not_register_gets_403(client: StaffClient, role: str) -> None:
    headers = client.as_role(role, department="cadastre_urbanism" if role == "department" else None)
    assert client.post(API, json=registration(), headers=headers).status_code == 403
    assert client.get(API, headers=headers).status_code == 403
    make_staff(client.db, f"page-{role}", role,
               "cadastre_urbanism" if role == "department" else None)
    dashboard = sign_in(client, f"page-{role}")
    assert 'href="/staff/sms"' not in dashboard
    csrf = csrf_of(dashboard) if 'name="csrf_token"' in dashboard else ""
    assert client.get(f"{PAGE}/new").status_code == 403
    assert client.get(PAGE).status_code == 403
    assert client.post(f"{PAGE}/new", data=page_form(csrf)).status_code == 403
    with client.db.read_session() as session:
        assert session.scalars(select(SmsSubscription)).all() == []


def test_the_next_notice_of_a_chosen_topic_goes_by_sms(client: StaffClient) -> None:
    headers = client.as_role("info_office")
    for phone, language in (("044 111 222", "sr_Latn"), ("044 333 444", "en")):
        assert client.post(API, json=registration(phone=phone, language=language),
                           headers=headers).status_code == 201
    assert client.post(API, json=registration(phone="044 555 666", topics=["emergencies"]),
                       headers=headers).status_code == 201
    subscriber(client.db, "chat-1")  # a Telegram citizen gets the chat form
    long_en = "Public debate on the budget on Friday at 18:00 in the assembly hall. " * 8
    short = "Opština Klokot: javna rasprava o budžetu, petak 18č."
    body: dict[str, Any] = {"topic": "public_debates", "rsvp": True,
                            "text": {**TEXTS, "en": long_en.strip()},
                            "sms_text": {"sr_Latn": short}}
    made = client.post("/api/v1/notices", json=body, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["sms_text"] == {"sr_Latn": short}
    assert set(made.json()["text"]) == set(PROFILE.enabled_locales)
    deliver(client.db)

    rows = sms_rows(client, "notice")
    assert sorted(r.chat_id for r in rows) == ["+38344111222", "+38344333444"]
    by_chat = {r.chat_id: r.body for r in rows}
    serbian, english = by_chat["+38344111222"], by_chat["+38344333444"]
    assert serbian["text"] == short and serbian["locale"] == "sr_Latn"
    assert not serbian.get("buttons")
    assert english["text"].startswith("Municipality of Klokot: Public debate on the budget")
    assert english["text"].endswith("…") and not english.get("buttons")
    assert len(english["text"]) <= len("Municipality of Klokot: ") + 300
    with client.db.read_session() as session:
        chat = session.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == "telegram")).one()
        assert chat.body["buttons"]  # the chat keeps its RSVP buttons


def test_the_preview_shows_segments_and_cost_per_recipient(client: StaffClient) -> None:
    headers = client.as_role("info_office")
    latin = "Javna rasprava o budžetu u petak u 18 časova. Građani su pozvani."
    english = "Klokot: budget debate Friday 18:00 " + "x" * 140
    albanian = "Kllokot: dëgjimi publik për buxhetin të premten në orën 18, salla e kuvendit."
    body: dict[str, Any] = {"topic": "public_debates", "text": {**TEXTS, "sr_Latn": latin},
                            "sms_text": {"en": english, "sq": albanian}}
    shown = client.post("/api/v1/notices/preview", json=body, headers=headers)
    assert shown.status_code == 200, shown.text
    sms = {loc: preview["sms"] for loc, preview in shown.json().items()}
    # Serbian Latin goes without č ć đ š ž (the profile's option): GSM-7, one
    # segment; with them it would be UCS-2 and two.
    assert sms["sr_Latn"]["without_diacritics"] is True
    assert "budzetu" in sms["sr_Latn"]["text"] and "Gradjani" in sms["sr_Latn"]["text"]
    assert (sms["sr_Latn"]["encoding"], sms["sr_Latn"]["segments"]) == ("GSM-7", 1)
    assert sms["sr_Latn"]["other_segments"] == 2
    assert sms["sr_Latn"]["cost"] == pytest.approx(PROFILE.sms.cost_per_segment)
    assert sms["sr_Latn"]["other_cost"] == pytest.approx(2 * PROFILE.sms.cost_per_segment)
    # Cyrillic is always UCS-2 (70 a segment); the English short form of 175
    # characters is two GSM-7 segments of 153.
    assert sms["sr_Cyrl"]["encoding"] == "UCS-2" and sms["sr_Cyrl"]["other_segments"] is None
    # Albanian keeps ë ç (the profile's option is off) and says what going without would save.
    assert sms["sq"]["without_diacritics"] is False and sms["sq"]["encoding"] == "UCS-2"
    assert (sms["sq"]["segments"], sms["sq"]["other_segments"]) == (2, 1)  # 78 characters
    assert sms["en"]["text"] == english
    assert (sms["en"]["encoding"], sms["en"]["segments"]) == ("GSM-7", 2)
    assert sms["en"]["cost"] == pytest.approx(2 * PROFILE.sms.cost_per_segment)
    # A short form longer than three segments' worth is refused, naming the language.
    too_long = {**body, "sms_text": {"sq": "a" * 481}}
    assert client.post("/api/v1/notices/preview", json=too_long,
                       headers=headers).status_code == 422

    # The page shows the same numbers under each language's preview.
    make_staff(client.db, "writer", "info_office")
    sign_in(client, "writer")
    form = client.get("/staff/notices/new")
    assert 'name="sms_sr_Latn"' in form.text
    page = client.post("/staff/notices/new", data={
        "csrf_token": csrf_of(form.text), "action": "preview", "topic": "public_debates",
        "audience": "everyone", "when": "now",
        **{f"text_{loc}": text for loc, text in {**TEXTS, "sr_Latn": latin}.items()}})
    assert page.status_code == 200, page.text
    latin_preview = page.text.split('id="sms-preview-sr_Latn"')[1].split("</div>\n      </div>")[0]
    assert "1 SMS segment(s), GSM-7" in latin_preview and "0.07 EUR" in latin_preview
    assert "Sent without č ć đ š ž; with them it would be 2 segment(s), 0.14 EUR" in latin_preview
    albanian_preview = page.text.split('id="sms-preview-sq"')[1].split("</div>\n      </div>")[0]
    assert "Without ë ç it would be" in albanian_preview
    cyrillic_preview = page.text.split('id="sms-preview-sr_Cyrl"')[1]
    assert "UCS-2" in cyrillic_preview.split("</figure>")[0]
    no_inline_code(page.text)



def test_staff_see_the_months_budget_and_why_sms_stopped(client: StaffClient) -> None:
    from bot.db import utcnow
    from bot.models import Lane, OutboxStatus
    from bot.outbox.budget import BUDGET_REACHED

    headers = client.as_role("info_office")
    made = client.post(API, json=registration(), headers=headers).json()
    shown = client.get("/api/v1/sms/budget", headers=headers).json()
    assert shown["used"] == 0 and shown["budget"] == PROFILE.sms.monthly_segment_budget
    assert shown["reached"] is False
    make_staff(client.db, "desk2", "info_office")
    sign_in(client, "desk2")
    page = client.get(PAGE).text
    assert f"0 of {PROFILE.sms.monthly_segment_budget} SMS segments" in page
    assert "budget is used up" not in page
    # The sender held an SMS back for the budget: the page says why.
    with client.db.session() as session:
        account = session.scalars(select(ChannelAccount).where(
            ChannelAccount.channel == "sms")).one()
        now = utcnow()
        session.add(OutboxMessage(channel="sms", chat_id=made["phone"], account_id=account.id,
                                  lane=Lane.bulk, origin="bot", body={"text": "x"},
                                  status=OutboxStatus.skipped, last_error=BUDGET_REACHED,
                                  next_attempt_at=now, created_at=now))
    assert client.get("/api/v1/sms/budget", headers=headers).json()["reached"] is True
    assert "The monthly budget is used up" in client.get(PAGE).text


def test_the_notices_page_shows_its_sms_too(client: StaffClient) -> None:
    headers = client.as_role("info_office")
    made = client.post("/api/v1/notices", headers=headers, json={
        "topic": "public_debates", "text": TEXTS,
        "sms_text": {"en": "Klokot: budget debate on Friday at 18:00."}}).json()
    assert made["preview"]["en"]["sms"]["text"] == "Klokot: budget debate on Friday at 18:00."
    make_staff(client.db, "reader", "viewer")
    sign_in(client, "reader")
    page = client.get(f"/staff/notices/{made['id']}").text
    english = page.split('id="sms-preview-en"')[1].split("</figure>")[0]
    assert "Klokot: budget debate on Friday at 18:00." in english
    assert "1 SMS segment(s), GSM-7" in english
