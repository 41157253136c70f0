"""/link rules: a code lives ten minutes and works once, only from the other
app; guessing stops after five wrong codes; linked citizens merge their
submissions and subscriptions without duplicates."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.models import Citizen, LinkCode, Subscription
from tests.factories import make_incoming, make_runtime, texts

T = Catalogs()


def say(db: Database, text: str, *, user: str, channel: str) -> str:
    runtime = make_runtime(db)
    incoming = make_incoming(text, user=user, channel=channel)
    return texts(runtime.engine.handle(incoming).replies)


def onboard(db: Database, user: str, channel: str) -> None:
    runtime = make_runtime(db)
    for payload in ("lang:en", "privacy:ok"):
        runtime.engine.handle(make_incoming(payload=payload, user=user, channel=channel))


def code_for(db: Database, user: str, channel: str) -> str:
    say(db, "/link", user=user, channel=channel)
    with db.read_session() as session:
        return session.scalars(select(LinkCode).order_by(LinkCode.id.desc())).first().code  # type: ignore[union-attr]


def test_an_expired_code_does_not_link(db: Database) -> None:
    onboard(db, "t1", "telegram")
    onboard(db, "v1", "viber")
    code = code_for(db, "t1", "telegram")
    with db.session() as session:
        link = session.scalars(select(LinkCode)).one()
        link.expires_at = utcnow() - timedelta(seconds=1)
    answer = say(db, f"/link {code}", user="v1", channel="viber")
    assert answer == T.gettext("en", "link.refused.expired", minutes=10)
    with db.read_session() as session:
        assert len(session.scalars(select(Citizen)).all()) == 2


def test_a_new_code_replaces_the_old_one(db: Database) -> None:
    onboard(db, "t1", "telegram")
    onboard(db, "v1", "viber")
    first = code_for(db, "t1", "telegram")
    second = code_for(db, "t1", "telegram")
    assert say(db, f"/link {first}", user="v1", channel="viber") == T.gettext(
        "en", "link.refused.expired", minutes=10)
    assert say(db, f"/link {second}", user="v1", channel="viber") == T.gettext(
        "en", "link.done", apps="Telegram + Viber")


def test_guessing_stops_after_five_wrong_codes(db: Database) -> None:
    onboard(db, "t1", "telegram")
    onboard(db, "v1", "viber")
    code = code_for(db, "t1", "telegram")
    wrong = "123456" if code != "123456" else "654321"
    for _ in range(5):
        assert say(db, f"/link {wrong}", user="v1", channel="viber") == T.gettext(
            "en", "link.refused.wrong", minutes=10)
    assert say(db, f"/link {code}", user="v1", channel="viber") == T.gettext(
        "en", "link.too_many", minutes=10)


def test_merging_keeps_one_subscription_per_topic(db: Database) -> None:
    onboard(db, "t1", "telegram")
    onboard(db, "v1", "viber")
    with db.session() as session:
        one, two = session.scalars(select(Citizen).order_by(Citizen.id)).all()
        one.full_name = None
        two.full_name = "Milica Stojanović"
        session.add_all([Subscription(citizen_id=one.id, topic="public_debates"),
                         Subscription(citizen_id=two.id, topic="public_debates"),
                         Subscription(citizen_id=two.id, topic="emergencies")])
    code = code_for(db, "t1", "telegram")
    say(db, f"/link {code}", user="v1", channel="viber")
    with db.read_session() as session:
        citizen = session.scalars(select(Citizen)).one()
        topics = sorted(session.scalars(select(Subscription.topic)))
    assert citizen.full_name == "Milica Stojanović"
    assert topics == ["emergencies", "public_debates"]
