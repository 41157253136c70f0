"""The staff use-cases of notices without HTTP: a draft made into a notice
and audited, the rules refusing a draft as `Invalid` naming each field to
fix, cancelling twice as a `Conflict`, the list's filters from a form, the
list's counts agreeing with the service's progress, and the answers' CSV
without names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.i18n import Catalogs
from bot.models import Citizen, Notice, NoticeStatus, OutboxMessage, OutboxStatus
from bot.profile import get_profile
from bot.refusals import Conflict, Invalid, NotFound
from bot.services import notices as service
from bot.staff import notices
from bot.staff.notices import Draft
from bot.staff.query import PageWindow, form_filters
from tests.factories import audit_log, load_staff, make_staff
from tests.handlers.test_notices import NOON, TEXTS, subscriber

PROFILE = get_profile()
CATALOGS = Catalogs(PROFILE.enabled_locales)


# Quiet hours and times to send: run again at night by `make test-night`.
pytestmark = pytest.mark.clock


def draft(**change: object) -> Draft:
    fields: dict[str, object] = {"topic": "public_debates", "settlements": None,
                                 "texts": dict(TEXTS), "send_at": None, "rsvp": False, **change}
    return Draft(**fields)  # type: ignore[arg-type]


def test_a_draft_becomes_a_notice_and_an_audit_entry(db: Database) -> None:
    staff_id = make_staff(db, "info1", "info_office")
    with db.session() as session:
        staff = load_staff(session, staff_id)
        texts = {**TEXTS, "sq": "  Dëgjim\x00 publik \n"}
        notice = notices.act_create(session, PROFILE, staff, draft(texts=texts, rsvp=True),
                                    ip="203.0.113.9", now=NOON)
        assert notice.status is NoticeStatus.scheduled and notice.created_by == "info1"
        assert notice.texts["sq"] == "Dëgjim publik" and notice.send_at == NOON
        notice_id = notice.id
    [entry] = audit_log(db, "notices.")
    assert entry.action == "notices.create" and entry.object_id == str(notice_id)
    assert entry.ip == "203.0.113.9" and entry.before is None
    assert entry.after is not None and entry.after["text"]["sq"] == "Dëgjim publik"


@pytest.mark.parametrize(("change", "code", "locs"), [
    ({"texts": {"en": TEXTS["en"]}}, "missing_translation",
     [["body", "text", "sr_Latn"], ["body", "text", "sr_Cyrl"], ["body", "text", "sq"]]),
    ({"texts": {**TEXTS, "de": "Hallo"}}, "unknown_locale", [["body", "text", "de"]]),
    ({"settlements": ["klokot", "belgrade", "paris"]}, "unknown_settlement",
     [["body", "settlements", "belgrade"], ["body", "settlements", "paris"]]),
    ({"topic": "football"}, "unknown_topic", [["body", "topic"]]),
    ({"send_at": NOON - timedelta(hours=1)}, "send_at_in_past", [["body", "send_at"]]),
    ({"send_at": NOON + timedelta(days=400)}, "send_at_too_far", [["body", "send_at"]]),
])
def test_a_rule_broken_is_invalid_naming_each_field(db: Database, change: dict[str, object],
                                                    code: str, locs: list[list[str]]) -> None:
    staff_id = make_staff(db, "info1", "info_office")
    with db.session() as session:
        staff = load_staff(session, staff_id)
        for attempt in (lambda: notices.preview_draft(CATALOGS, PROFILE, draft(**change), NOON),
                        lambda: notices.act_create(session, PROFILE, staff, draft(**change),
                                                   ip=None, now=NOON)):
            with pytest.raises(Invalid) as refused:
                attempt()
            assert refused.value.code == code and refused.value.status == 422
            assert [e["loc"] for e in refused.value.extra["errors"]] == locs
    with db.read_session() as session:
        assert session.scalars(select(Notice)).all() == []
    assert audit_log(db, "notices.") == []


def test_cancelling_twice_is_a_conflict_and_audited_once(db: Database) -> None:
    staff_id = make_staff(db, "info1", "info_office")
    with db.session() as session:
        staff = load_staff(session, staff_id)
        notice_id = notices.act_create(session, PROFILE, staff, draft(), ip=None, now=NOON).id
    staff_id = make_staff(db, "info2", "info_office")
    with db.session() as session:
        staff = load_staff(session, staff_id)
        cancelled = notices.act_cancel(session, staff, notice_id, ip=None, now=NOON)
        assert cancelled.status is NoticeStatus.cancelled and cancelled.cancelled_by == "info2"
    with db.session() as session:
        staff = load_staff(session, staff_id)
        with pytest.raises(Conflict) as refused:
            notices.act_cancel(session, staff, notice_id, ip=None, now=NOON)
        assert refused.value.code == "already_cancelled" and refused.value.status == 409
        with pytest.raises(NotFound):
            notices.act_cancel(session, staff, 424242, ip=None, now=NOON)
    assert [e.action for e in audit_log(db, "notices.")] == ["notices.create", "notices.cancel"]


def from_form(values: dict[str, str]) -> notices.NoticeFilters:
    return form_filters(notices.NoticeFilters, values, PROFILE, notices.check_filters)


def test_the_filters_from_a_form(db: Database) -> None:
    assert from_form({"status": "", "topic": ""}) == notices.NoticeFilters()
    chosen = from_form({"status": "cancelled", "topic": "assembly"})
    assert chosen.status is NoticeStatus.cancelled and chosen.topic == "assembly"
    for values in ({"status": "lost"}, {"topic": "football"}, {"topic": "x" * 40}):
        with pytest.raises(Invalid) as refused:
            from_form(values)
        assert refused.value.code == "invalid_filter"

    staff_id = make_staff(db, "info1", "info_office")
    with db.session() as session:
        staff = load_staff(session, staff_id)
        debate = notices.act_create(session, PROFILE, staff, draft(), ip=None, now=NOON)
        assembly = notices.act_create(session, PROFILE, staff, draft(topic="assembly"),
                                      ip=None, now=NOON + timedelta(minutes=1))
        notices.act_cancel(session, staff, debate.id, ip=None, now=NOON)
        page = PageWindow(limit=10)
        rows, total = notices.list_notices(session, PROFILE, notices.NoticeFilters(), page)
        assert [n.id for n in rows] == [assembly.id, debate.id] and total == 2
        rows, _ = notices.list_notices(session, PROFILE, chosen, page)
        assert rows == []
        rows, _ = notices.list_notices(session, PROFILE, from_form({"status": "cancelled"}),
                                       page)
        assert [n.id for n in rows] == [debate.id]


def test_the_list_counts_as_the_service_does(db: Database) -> None:
    subscriber(db, "1", language="en")
    subscriber(db, "2", language="sq")
    subscriber(db, "3", blocked=True)
    staff_id = make_staff(db, "info1", "info_office")
    with db.session() as session:
        staff = load_staff(session, staff_id)
        notice_id = notices.act_create(session, PROFILE, staff, draft(), ip=None, now=NOON).id
    with db.session() as session:
        service.deliver(session, PROFILE, CATALOGS, NOON)
    with db.session() as session:
        first = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
        assert first is not None
        first.status = OutboxStatus.sent
    with db.read_session() as session:
        notice = notices.find_notice(session, notice_id)
        detail = notices.detail_out(session, CATALOGS, PROFILE, notice)
        [listed] = notices.list_out(session, [notice])
    assert (detail.recipients, detail.sent, detail.pending, detail.blocked) == (3, 1, 1, 1)
    assert listed.model_dump() == {k: v for k, v in detail.model_dump().items()
                                   if k in listed.model_dump()}
    assert listed.in_progress is True


def test_the_answers_csv_names_no_one_and_is_audited(db: Database) -> None:
    subscriber(db, "1", settlement="vrbovac")
    staff_id = make_staff(db, "info1", "info_office")
    with db.session() as session:
        staff = load_staff(session, staff_id)
        notice = notices.act_create(session, PROFILE, staff, draft(rsvp=True), ip=None,
                                    now=NOON)
        citizen = session.scalars(select(Citizen)).one()
        service.answer_coming(session, notice, citizen, NOON)
        service.add_question(session, notice, citizen, "Will the road be repaired?", NOON)
        body, filename = notices.export_answers(session, CATALOGS, PROFILE, staff, notice,
                                                ip=None, now=NOON)
        notice_id = notice.id
    assert filename == f"notice-{notice_id}-answers-20261202-1100.csv"
    text = body.decode("utf-8-sig")
    assert text.splitlines()[0] == "time,settlement,kind,question"
    assert "Vrbovac" in text and "Will the road be repaired?" in text
    assert "Jovana" not in text and "+38344123456" not in text
    entry = audit_log(db, "notices.")[-1]
    assert entry.action == "notices.export" and entry.detail == "answers csv, 2 rows"
