"""The one way the bot starts a message: to a citizen in their language on
their chat (never an erased citizen), and alerts to linked officers."""

from __future__ import annotations

from sqlalchemy import select

from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.messages import Reply
from bot.models import ChannelAccount, Citizen, OutboxMessage
from bot.models.staff import Role, StaffUser
from bot.profile import get_profile
from bot.services.notify import alert_officers, tell_citizen
from tests.factories import make_citizen, make_staff


def link(db: Database, username: str, external_id: str) -> None:
    citizen_id = make_citizen(db, external_id=external_id)
    with db.session() as session:
        account = session.scalars(select(ChannelAccount).where(
            ChannelAccount.citizen_id == citizen_id)).one()
        staff = session.scalars(select(StaffUser).where(StaffUser.username == username)).one()
        staff.chat_account_id = account.id


def test_alerts_go_to_linked_officers_of_the_role_in_their_language(db: Database) -> None:
    make_staff(db, "mayor-sq", "mayor_office", language="sq")
    make_staff(db, "mayor-unlinked", "mayor_office")
    make_staff(db, "info-en", "info_office")
    link(db, "mayor-sq", "501")
    link(db, "info-en", "502")
    with db.session() as session:
        rows = alert_officers(
            session, get_profile(), Catalogs(), roles=(Role.mayor_office,),
            message=lambda t: Reply(t("staff.nav.reception")),
        )
        assert [(r.chat_id, r.body["text"], r.origin) for r in rows] == [
            ("501", Catalogs().gettext("sq", "staff.nav.reception"), "bot")]
    with db.read_session() as session:
        assert len(session.scalars(select(OutboxMessage)).all()) == 1




def tell(db: Database, citizen_id: int, *, dedupe_key: str | None = None) -> bool:
    profile = get_profile()
    with db.session() as session:
        account = session.scalars(select(ChannelAccount).where(
            ChannelAccount.citizen_id == citizen_id)).one()
        return tell_citizen(
            session, profile, Catalogs(profile.enabled_locales), citizen_id=citizen_id,
            account_id=account.id, now=utcnow(), dedupe_key=dedupe_key,
            message=lambda t, locale: [Reply(f"{locale}: {t('staff.nav.reception')}"),
                                       Reply("second")])


def test_a_citizen_is_told_in_their_language_in_order(db: Database) -> None:
    citizen_id = make_citizen(db, external_id="601", language="sq")
    assert tell(db, citizen_id)
    with db.read_session() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [r.body["text"] for r in rows] == [
            "sq: " + Catalogs().gettext("sq", "staff.nav.reception"), "second"]
        assert {(r.chat_id, r.origin) for r in rows} == {("601", "bot")}


def test_an_erased_citizen_is_never_told(db: Database) -> None:
    citizen_id = make_citizen(db, external_id="602")
    with db.session() as session:
        citizen = session.get(Citizen, citizen_id)
        assert citizen is not None
        citizen.erased_at = utcnow()
    assert not tell(db, citizen_id)
    with db.read_session() as session:
        assert session.scalars(select(OutboxMessage)).all() == []


def test_a_blocked_account_gets_nothing_and_a_timer_repeats_nothing(db: Database) -> None:
    blocked = make_citizen(db, external_id="603", blocked=True)
    assert tell(db, blocked)
    reachable = make_citizen(db, external_id="604")
    assert tell(db, reachable, dedupe_key="reminder:1")
    assert not tell(db, reachable, dedupe_key="reminder:1")  # the timer ran again
    with db.read_session() as session:
        rows = session.scalars(select(OutboxMessage)).all()
    assert sorted((r.chat_id, r.status.value) for r in rows) == [
        ("603", "skipped"), ("603", "skipped"), ("604", "queued"), ("604", "queued")]
