"""The staff side of notices through the admin API: a notice written in
every language, previewed, sent to exactly the subscribers meant and counted
while it goes out (sent, failed, blocked, waiting, not sent); the rules
(422 with the rule's code, naming the field) and the schema (422);
cancelling; the answers to a public debate and their CSV without names,
phones or chats; the audit; and who may do what."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.models import (
    ChannelAccount,
    Citizen,
    Notice,
    NoticeStatus,
    OutboxMessage,
    OutboxStatus,
)
from bot.models.staff import AuditEntry
from bot.profile import get_profile
from bot.services import notices as service
from tests.admin.conftest import StaffClient
from tests.factories import make_runtime, make_staff
from tests.handlers.test_notices import TEXTS, subscriber

API = "/api/v1/notices"
PROFILE = get_profile()
T = Catalogs()
CHAT_ID = "7700990011"  # a chat id no answer may show
# A notice's rules refuse what the schema cannot say (a language left blank,
# a time in the past): 422 with the rule's code and the fields in `errors`.
RULE_BODIES = {f"POST {API}", f"POST {API}/preview"}
RULE_CODES = {"unknown_topic", "unknown_settlement", "missing_translation", "unknown_locale",
              "text_too_long", "send_at_in_past", "send_at_too_far"}
# Notices keep quiet hours: every test here runs the whole app at 12:00 in
# Klokot (the `noon` fixture), and again at night in `make test-night`.
pytestmark = [pytest.mark.clock, pytest.mark.usefixtures("noon")]


def rules_are_named(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schemathesis check: a 422 to a schema-valid notice is one of its rules."""
    if response.status_code == 422:
        found = json.loads(response.content)
        assert found["code"] in RULE_CODES and found["errors"], response.text
    return None


def daytime(now: datetime | None = None) -> datetime:
    """`now`, or the next 12:00 in Klokot when it is night there now (the tests
    here run at noon; the browser test runs on the machine's clock)."""
    now = now or utcnow()
    if service.daytime(PROFILE, now):
        return now
    local = now.astimezone(PROFILE.tz)
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon < local:
        noon += timedelta(days=1)
    return noon.astimezone(UTC)


def deliver(db: Database, now: datetime | None = None) -> int:
    """What the worker's timer does, until every running notice is queued."""
    when, total = daytime(now), 0
    for _ in range(20):
        with db.session() as session:
            total += service.deliver(session, PROFILE, T, when)
        with db.read_session() as session:
            if not session.scalars(select(Notice).where(
                    Notice.status == NoticeStatus.sending)).all():
                return total
    return total


def body(**change: Any) -> dict[str, Any]:
    return {"topic": "public_debates", "settlements": None, "text": dict(TEXTS),
            "send_at": None, "rsvp": False, **change}


def audit_entries(client: StaffClient, prefix: str = "notices.") -> list[AuditEntry]:
    with client.db.read_session() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)))


def actions(client: StaffClient) -> list[str]:
    return [e.action for e in audit_entries(client)]


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    found: dict[str, Any] = response.json()
    assert found["code"] == code and found["detail"]
    return found


def notices_saved(db: Database) -> int:
    with db.read_session() as session:
        return len(session.scalars(select(Notice)).all())


def messages(db: Database) -> list[OutboxMessage]:
    with db.read_session() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        for row in rows:
            session.expunge(row)
        return rows


def account_of(db: Database, citizen_id: int) -> int:
    with db.read_session() as session:
        found = session.scalar(select(ChannelAccount.id).where(
            ChannelAccount.citizen_id == citizen_id))
        assert found is not None
        return found


def set_outbox(db: Database, account_id: int, status: OutboxStatus,
               block: bool = False) -> None:
    """What the sender would do: deliver a message, or fail it (a block
    seen on the way marks the account)."""
    with db.session() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.account_id == account_id))
        assert row is not None
        row.status = status
        if block:
            account = session.get(ChannelAccount, account_id)
            assert account is not None
            account.blocked_at = utcnow()


COUNTS = ("recipients", "sent", "failed", "blocked", "pending", "skipped")


def counts(notice: dict[str, Any]) -> tuple[int, ...]:
    return tuple(notice[key] for key in COUNTS)


# --- making and delivering -----------------------------------------------------------------

def test_a_notice_is_made_delivered_and_counted(client: StaffClient) -> None:
    headers = client.as_role("info_office", username="info1")
    english = subscriber(client.db, "1", language="en")
    albanian = subscriber(client.db, "2", settlement="vrbovac", language="sq")
    subscriber(client.db, "3", blocked=True)  # blocked the bot before
    no_session = subscriber(client.db, "4", channel="viber")
    with client.db.session() as session:  # silent for days: the bot may not start a chat
        account = session.get(ChannelAccount, account_of(client.db, no_session))
        assert account is not None
        account.last_inbound_at = utcnow() - timedelta(days=3)
    later_blocked = subscriber(client.db, "5", language="sr_Cyrl")
    subscriber(client.db, "6", topics=("tenders_jobs",))  # another topic

    response = client.post(API, headers=headers, json=body())
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["status"] == "scheduled" and made["in_progress"] is True
    assert counts(made) == (0, 0, 0, 0, 0, 0)
    assert made["text"] == TEXTS and made["settlements"] is None and made["rsvp"] is False
    assert made["created_by"] == "info1"
    assert set(made["preview"]) == set(PROFILE.enabled_locales)
    assert TEXTS["sq"] in made["preview"]["sq"]["text"]
    assert made["answers"] == {"coming": 0, "questions": 0, "by_settlement": []}
    notice_id = made["id"]

    deliver(client.db)
    rows = messages(client.db)
    assert len(rows) == 4 and all(row.lane == 1 for row in rows)
    by_account = {row.account_id: row.body["text"] for row in rows}
    assert TEXTS["en"] in by_account[account_of(client.db, english)]
    assert TEXTS["sq"] in by_account[account_of(client.db, albanian)]
    # The silent Viber citizen's copy waits for their next message: pending.
    assert {row.account_id: row.status for row in rows}[
        account_of(client.db, no_session)] is OutboxStatus.held
    detail = client.get(f"{API}/{notice_id}", headers=headers).json()
    assert detail["status"] == "sent" and detail["in_progress"] is True  # still waiting
    assert counts(detail) == (5, 0, 0, 1, 4, 0)

    set_outbox(client.db, account_of(client.db, english), OutboxStatus.sent)
    set_outbox(client.db, account_of(client.db, albanian), OutboxStatus.failed)
    set_outbox(client.db, account_of(client.db, later_blocked), OutboxStatus.failed,
               block=True)
    detail = client.get(f"{API}/{notice_id}", headers=headers).json()
    assert counts(detail) == (5, 1, 1, 2, 1, 0)
    assert detail["in_progress"] is True  # the Viber citizen has not written yet
    set_outbox(client.db, account_of(client.db, no_session), OutboxStatus.summarised)
    detail = client.get(f"{API}/{notice_id}", headers=headers).json()
    assert counts(detail) == (5, 2, 1, 2, 0, 0)
    assert detail["in_progress"] is False
    # the list counts the same way as the service's progress
    listed = client.get(API, headers=headers).json()
    assert listed["total"] == 1 and counts(listed["items"][0]) == counts(detail)

    [entry] = audit_entries(client)
    assert entry.action == "notices.create" and entry.object_id == str(notice_id)
    assert entry.username == "info1" and entry.before is None
    assert entry.after is not None and entry.after["topic"] == "public_debates"
    assert entry.after["text"] == TEXTS and entry.after["status"] == "scheduled"


def test_settlements_and_a_later_time(client: StaffClient) -> None:
    headers = client.as_role("admin")
    subscriber(client.db, "1")
    vrbovac = subscriber(client.db, "2", settlement="vrbovac")
    subscriber(client.db, "3", settlement="abroad", topics=("public_debates", "diaspora"))
    at = utcnow() + timedelta(days=2)
    response = client.post(API, headers=headers, json=body(
        settlements=["vrbovac", "vrbovac"], send_at=at.astimezone(PROFILE.tz).isoformat()))
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["settlements"] == ["vrbovac"]
    assert datetime.fromisoformat(made["send_at"]) == at
    deliver(client.db)  # not yet
    assert messages(client.db) == []
    deliver(client.db, at)
    [row] = messages(client.db)
    assert row.account_id == account_of(client.db, vrbovac)


def test_the_list_filters_and_sorts(client: StaffClient) -> None:
    headers = client.as_role("info_office")
    first = client.post(API, headers=headers, json=body()).json()["id"]
    second = client.post(API, headers=headers, json=body(topic="assembly")).json()["id"]
    client.post(f"{API}/{first}/cancel", headers=headers).raise_for_status()

    def ids(**params: Any) -> list[int]:
        response = client.get(API, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [n["id"] for n in response.json()["items"]]

    assert ids() == [second, first]  # newest first
    assert ids(sort="created_at") == [first, second]
    assert ids(status="cancelled") == [first]
    assert ids(topic="assembly") == [second]
    assert ids(topic="assembly", status="cancelled") == []
    problem(client.get(API, headers=headers, params={"topic": "football"}), 422,
            "invalid_filter")


# --- the rules and the schema ------------------------------------------------------------

@pytest.mark.parametrize(("change", "code", "loc"), [
    ({"topic": "football"}, "unknown_topic", ["body", "topic"]),
    ({"settlements": ["klokot", "belgrade"]}, "unknown_settlement",
     ["body", "settlements", "belgrade"]),
    ({"text": {k: v for k, v in TEXTS.items() if k != "sq"}}, "missing_translation",
     ["body", "text", "sq"]),
    ({"text": {**TEXTS, "sr_Cyrl": " \n\t "}}, "missing_translation",
     ["body", "text", "sr_Cyrl"]),
    ({"send_at": "2020-05-01T10:00:00+02:00"}, "send_at_in_past", ["body", "send_at"]),
    ({"send_at": "2099-05-01T10:00:00+02:00"}, "send_at_too_far", ["body", "send_at"]),
])
def test_a_rule_broken_is_422_naming_the_field(client: StaffClient, change: dict[str, Any],
                                               code: str, loc: list[str]) -> None:
    headers = client.as_role("info_office")
    for path in (API, f"{API}/preview"):
        found = problem(client.post(path, headers=headers, json=body(**change)), 422, code)
        assert found["errors"] and loc in [e["loc"] for e in found["errors"]]
    assert notices_saved(client.db) == 0 and actions(client) == []


def test_every_missing_language_is_named(client: StaffClient) -> None:
    headers = client.as_role("info_office")
    found = problem(client.post(API, headers=headers, json=body(text={"en": TEXTS["en"]})),
                    422, "missing_translation")
    assert [e["loc"][-1] for e in found["errors"]] == ["sr_Latn", "sr_Cyrl", "sq"]
    assert "sr_Latn, sr_Cyrl, sq" in found["detail"]


@pytest.mark.parametrize(("change", "field"), [
    ({"text": {**TEXTS, "en": "x" * (service.TEXT_MAX + 1)}}, "text.en"),
    ({"text": {**TEXTS, "de": "Hallo"}}, "text.de"),
    ({"settlements": []}, "settlements"),
    ({"send_at": "2030-05-01T10:00:00"}, "send_at"),  # no offset: which time is it?
    ({"topic": None}, "topic"),
    ({"text": None}, "text"),
])
def test_input_the_schema_refuses_is_422_naming_the_field(
        client: StaffClient, change: dict[str, Any], field: str) -> None:
    headers = client.as_role("info_office")
    found = problem(client.post(API, headers=headers, json=body(**change)), 422,
                    "validation_error")
    assert field in found["detail"]
    assert notices_saved(client.db) == 0


def test_a_text_at_the_limit_and_tidied(client: StaffClient) -> None:
    headers = client.as_role("info_office")
    longest = "x" * service.TEXT_MAX
    text = {**TEXTS, "en": longest, "sq": "  Dëgjim\x00 publik\u0007 \n"}
    made = client.post(API, headers=headers, json=body(text=text))
    assert made.status_code == 201, made.text
    assert made.json()["text"]["en"] == longest and made.json()["text"]["sq"] == "Dëgjim publik"


# --- preview -------------------------------------------------------------------------------

@pytest.mark.parametrize("locale", ["sr_Latn", "sr_Cyrl", "sq", "en"])
def test_the_preview_shows_each_language_and_saves_nothing(client: StaffClient,
                                                           locale: str) -> None:
    headers = client.as_role("info_office")
    response = client.post(f"{API}/preview", headers=headers, json=body(rsvp=True))
    assert response.status_code == 200, response.text
    shown = response.json()
    assert list(shown) == list(PROFILE.enabled_locales)
    topic = service.topic_label(PROFILE, "public_debates", locale)
    assert shown[locale]["text"] == T.gettext(locale, "notices.message", topic=topic,
                                              text=TEXTS[locale])
    assert shown[locale]["buttons"] == [
        T.gettext(locale, key) for key in ("notices.rsvp_coming", "notices.rsvp_ask",
                                           "notices.unsubscribe_topic", "notices.stop_all")]
    plain = client.post(f"{API}/preview", headers=headers, json=body()).json()
    assert plain[locale]["buttons"] == [T.gettext(locale, "notices.unsubscribe_topic"),
                                        T.gettext(locale, "notices.stop_all")]
    assert notices_saved(client.db) == 0 and actions(client) == []


# --- cancel --------------------------------------------------------------------------------

def test_cancel_stops_what_has_not_left_and_is_audited(client: StaffClient) -> None:
    headers = client.as_role("info_office", username="info1")
    for n in range(3):
        subscriber(client.db, str(n))
    notice_id = client.post(API, headers=headers, json=body()).json()["id"]
    deliver(client.db)
    assert counts(client.get(f"{API}/{notice_id}", headers=headers).json()) == (
        3, 0, 0, 0, 3, 0)

    response = client.post(f"{API}/{notice_id}/cancel", headers=headers)
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_by"] == "info1"
    assert counts(cancelled) == (3, 0, 0, 0, 0, 3) and cancelled["in_progress"] is False
    assert {row.status for row in messages(client.db)} == {OutboxStatus.skipped}
    entry = audit_entries(client)[-1]
    assert entry.action == "notices.cancel" and entry.object_id == str(notice_id)
    assert entry.before == {"status": "sent"} and entry.after == {"status": "cancelled"}

    problem(client.post(f"{API}/{notice_id}/cancel", headers=headers), 409,
            "already_cancelled")
    problem(client.post(f"{API}/999999/cancel", headers=headers), 404, "not_found")
    assert actions(client).count("notices.cancel") == 1


def test_a_scheduled_notice_cancelled_never_goes_out(client: StaffClient) -> None:
    headers = client.as_role("admin")
    subscriber(client.db, "1")
    notice_id = client.post(API, headers=headers, json=body()).json()["id"]
    client.post(f"{API}/{notice_id}/cancel", headers=headers).raise_for_status()
    deliver(client.db)
    assert messages(client.db) == []


# --- answers -------------------------------------------------------------------------------

def answer(db: Database, notice_id: int, external_id: str, settlement: str | None,
           question: str | None = None, coming: bool = True) -> None:
    with db.session() as session:
        citizen = session.scalar(select(Citizen).join(
            ChannelAccount, ChannelAccount.citizen_id == Citizen.id).where(
            ChannelAccount.external_id == external_id))
        notice = session.get(Notice, notice_id)
        assert citizen is not None and notice is not None
        citizen.settlement = settlement
        if coming:
            service.answer_coming(session, notice, citizen, utcnow())
        if question:
            service.add_question(session, notice, citizen, question, utcnow())


def test_answers_and_their_csv_show_no_one(client: StaffClient) -> None:
    headers = client.as_role("info_office")
    for external_id, settlement in ((CHAT_ID, "klokot"), ("5", "vrbovac"), ("6", None)):
        subscriber(client.db, external_id, settlement=settlement)
    notice_id = client.post(API, headers=headers, json=body(rsvp=True)).json()["id"]
    answer(client.db, notice_id, CHAT_ID, "klokot",
           "=HYPERLINK(\"http://evil\") Will the road to Klokot be in the budget?")
    answer(client.db, notice_id, "5", "vrbovac")
    answer(client.db, notice_id, "6", None, "When does the water supply come to us?",
           coming=False)

    detail = client.get(f"{API}/{notice_id}", headers=headers).json()
    assert detail["answers"] == {"coming": 2, "questions": 2, "by_settlement": [
        {"settlement": "klokot", "coming": 1, "questions": 1},
        {"settlement": "vrbovac", "coming": 1, "questions": 0},
        {"settlement": None, "coming": 0, "questions": 1}]}
    response = client.get(f"{API}/{notice_id}/answers", headers=headers)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert answers["coming"] == 2 and answers["total"] == 2
    assert [q["settlement"] for q in answers["items"]] == ["klokot", None]
    assert answers["items"][1]["text"] == "When does the water supply come to us?"
    paged = client.get(f"{API}/{notice_id}/answers", headers=headers,
                       params={"limit": 1, "offset": 1, "sort": "-created_at"}).json()
    assert paged["total"] == 2 and len(paged["items"]) == 1
    for shown in (response.text, client.get(f"{API}/{notice_id}", headers=headers).text):
        assert "Jovana" not in shown and "+38344123456" not in shown and CHAT_ID not in shown
        assert "citizen_id" not in shown and "chat_id" not in shown

    export = client.get(f"{API}/{notice_id}/answers.csv", headers=headers)
    assert export.status_code == 200 and export.content.startswith(b"\xef\xbb\xbf")
    assert export.headers["content-type"].startswith("text/csv")
    text = export.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["time", "settlement", "kind", "question"]
    assert Counter(row[2] for row in rows[1:]) == {"coming": 2, "question": 2}
    assert {row[1] for row in rows[1:]} == {"Klokot", "Vrbovac", "not given"}
    assert any(row[3].startswith("'=HYPERLINK") for row in rows[1:])
    offset = datetime.fromisoformat(rows[1][0]).utcoffset()
    assert offset == utcnow().astimezone(PROFILE.tz).utcoffset()  # local time
    assert "Jovana" not in text and "+38344123456" not in text and CHAT_ID not in text
    entry = audit_entries(client, "notices.export")[0]
    assert entry.object_id == str(notice_id) and entry.detail and "4 rows" in entry.detail

    problem(client.get(f"{API}/999999/answers", headers=headers), 404, "not_found")
    problem(client.get(f"{API}/999999/answers.csv", headers=headers), 404, "not_found")


# --- who may do what -------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "department"), [
    ("viewer", None), ("department", "agriculture"), ("mayor_office", None)])
def test_other_roles_read_but_do_not_send(client: StaffClient, role: str,
                                          department: str | None) -> None:
    """Admin and the information office send; the others read (issue #8,
    which here wins over SPEC §3.7's table)."""
    owner = client.as_role("info_office")
    notice_id = client.post(API, headers=owner, json=body()).json()["id"]
    headers = client.as_role(role, department)
    for response in (
            client.get(API, headers=headers),
            client.get(f"{API}/{notice_id}", headers=headers),
            client.get(f"{API}/{notice_id}/answers", headers=headers),
            client.get(f"{API}/{notice_id}/answers.csv", headers=headers)):
        assert response.status_code == 200, response.text
    for response in (
            client.post(API, headers=headers, json=body()),
            client.post(f"{API}/preview", headers=headers, json=body()),
            client.post(f"{API}/{notice_id}/cancel", headers=headers)):
        problem(response, 403, "forbidden")
    assert notices_saved(client.db) == 1
    with client.db.read_session() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None and notice.status is NoticeStatus.scheduled
    assert actions(client) == ["notices.create", "notices.export"]


def test_admin_sends_and_nobody_unsigned_does(client: StaffClient) -> None:
    assert client.post(API, headers=client.as_role("admin"), json=body()).status_code == 201
    problem(client.post(API, json=body()), 401, "not_authenticated")
    problem(client.get(API), 401, "not_authenticated")


# --- the contract with real notices ------------------------------------------------------------

def test_the_notice_operations_keep_their_contract_on_real_notices(
        db: Database, data_dir: Path) -> None:
    """Schemathesis with the path pinned to existing notices (the general run
    only meets 404s): random bodies reach the rules, which answer 422 with
    their code (or 409 for a state conflict), never 500; schema-valid input
    is 422 only for a rule the schema cannot say, never for `validation_error`."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import positive_data_acceptance

    runtime = make_runtime(db, login_delay_seconds=0.0, data_dir=data_dir)
    app = create_app(runtime=runtime, run_sender=False)
    make_staff(db, "schema-admin", "admin")
    subscriber(db, "1")
    with db.session() as session:
        ids = [service.create(session, PROFILE, topic="public_debates", settlements=None,
                              texts=TEXTS, send_at=None, rsvp=rsvp, by="info1",
                              now=utcnow()).id for rsvp in (True, False)]
    deliver(db)
    answer(db, ids[0], "1", "klokot", "Will the road to Klokot be in the budget?")
    headers = {"Authorization": f"Bearer {StaffClient(app).token_for('schema-admin')}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    everything = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    operations = [op for op in everything if op.path.startswith(API)]
    assert len(operations) == 7
    seen: Counter[tuple[str, int]] = Counter()
    for operation in operations:
        def pinned(case: schemathesis.Case, notice_id: int) -> schemathesis.Case:
            if "notice_id" in case.path_parameters:
                case.path_parameters["notice_id"] = notice_id
            return case

        strategy = st.builds(pinned, operation.as_strategy(), st.sampled_from(ids))

        @given(case=strategy)
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            if case.operation.label in RULE_BODIES:
                response = case.call_and_validate(
                    headers=headers, excluded_checks=[positive_data_acceptance],
                    additional_checks=[rules_are_named])
            else:
                response = case.call_and_validate(headers=headers)
            seen[(case.operation.label, response.status_code)] += 1

        check()

    for operation in operations:
        codes = {code for label, code in seen if label == operation.label}
        assert codes and 500 not in codes, operation.label
        assert any(200 <= code < 300 for code in codes), (operation.label, codes)
