"""/link rules: a code lives ten minutes and works once, only from the other
app; guessing stops after five wrong codes; linked citizens merge their
submissions and subscriptions without duplicates."""

from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import select

from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.models import ChannelAccount, Citizen, CodeAttempts, LinkCode, OutboxMessage, Subscription
from bot.profile import get_profile
from tests.factories import make_incoming, make_runtime, texts

T = Catalogs()
PROFILE = get_profile()


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
    for _ in range(4):
        assert say(db, f"/link {wrong}", user="v1", channel="viber") == T.gettext(
            "en", "link.refused.wrong", minutes=10)
    stopped = say(db, f"/link {wrong}", user="v1", channel="viber")
    assert stopped.startswith("Too many wrong codes.")
    assert say(db, f"/link {code}", user="v1", channel="viber") == stopped


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


def _outbox_texts(db: Database, user: str, channel: str) -> list[str]:
    with db.read_session() as session:
        return [m.body.get("text", "") for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == channel,
                                        OutboxMessage.chat_id == user)
            .order_by(OutboxMessage.id))]


def _wrong_codes(right: str, n: int) -> list[str]:
    return [c for c in (f"{i:06d}" for i in range(100_001, 100_001 + n + 1)) if c != right][:n]


def test_flow_changes_and_restarts_do_not_reset_the_count_of_wrong_codes(db: Database) -> None:
    """Review #13, item 3: the count lived in the conversation's data, so
    /menu, /cancel or /start (between guesses) reset it — 24 guesses in four
    rounds went through, and a right one merged the attacker into the
    victim's record. Every `say` builds a new runtime: a restart each time."""
    onboard(db, "victim", "telegram")
    onboard(db, "attacker", "viber")
    code = code_for(db, "victim", "telegram")
    wrong = T.gettext("en", "link.refused.wrong", minutes=10)
    answers = []
    for guess, between in zip(_wrong_codes(code, 24),
                              itertools.cycle(["/menu", "/cancel", "/start", None]),
                              strict=False):
        answers.append(say(db, f"/link {guess}", user="attacker", channel="viber"))
        if between:
            say(db, between, user="attacker", channel="viber")
    assert answers[:4] == [wrong] * 4
    with db.read_session() as session:
        attempts = session.scalars(select(CodeAttempts)).one()
    until = attempts.locked_until
    assert until is not None
    refused = T.gettext("en", "link.too_many", minutes=15,
                        time=f"{until.astimezone(PROFILE.tz):%H:%M}")
    assert answers[4:] == [refused] * 20  # the fifth wrong code stops it
    # The right code, sent while locked, is refused too, and nothing merged.
    assert say(db, f"/link {code}", user="attacker", channel="viber") == refused
    with db.read_session() as session:
        assert len(session.scalars(select(Citizen)).all()) == 2
        accounts = session.scalars(select(ChannelAccount)).all()
        assert len({a.citizen_id for a in accounts}) == 2
    # The victim is told in their chat (through the outbox), once.
    warned = [text for text in _outbox_texts(db, "victim", "telegram")
              if text == T.gettext("en", "link.code_cancelled")]
    assert len(warned) == 1
