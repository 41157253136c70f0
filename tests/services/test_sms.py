"""SMS without the network: what a text costs in segments, the keywords in
each language, registering a number and stopping it, and the profile's rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.channels.sms_text import sms_body, sms_segments, without_diacritics
from bot.db import Database, utcnow
from bot.messages import Button, Reply
from bot.models import ChannelAccount, OutboxMessage, OutboxStatus, Subscription
from bot.models.sms import SmsConsentSource, SmsSubscription
from bot.outbox.queue import enqueue
from bot.profile import DEFAULT_PROFILE, ProfileError, get_profile, load_profile
from bot.refusals import Invalid
from bot.services import sms

# --- segments --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "encoding", "count"), [
    ("a" * 160, "GSM-7", 1),
    ("a" * 161, "GSM-7", 2),
    ("a" * 306, "GSM-7", 2),
    ("a" * 307, "GSM-7", 3),
    ("€" * 80, "GSM-7", 1),  # the extension table: two septets each
    ("€" * 81, "GSM-7", 2),
    ("a" * 152 + "€" + "a" * 10, "GSM-7", 2),  # an escape is never split
    ("Opština", "UCS-2", 1),  # one š makes the whole text UCS-2
    ("č" * 70, "UCS-2", 1),
    ("č" * 71, "UCS-2", 2),
    ("ć" * 134, "UCS-2", 2),
    ("đ" * 135, "UCS-2", 3),
    ("Ž" + "a" * 69, "UCS-2", 1),
    ("Ž" + "a" * 70, "UCS-2", 2),
    ("Општина Клокот", "UCS-2", 1),
    ("Komuna e Kllokotit", "GSM-7", 1),
    ("të enjten", "UCS-2", 1),  # ë is not GSM-7
    ("Ça va, Müller?", "GSM-7", 1),  # Ç and ü are
])
def test_segments(text: str, encoding: str, count: int) -> None:
    counted = sms_segments(text)
    assert (counted.encoding, counted.count) == (encoding, count)


def test_without_diacritics() -> None:
    assert without_diacritics("Čačak, Ćuprija, Đakovica, Šid, Žabalj, đak") == \
        "Cacak, Cuprija, Djakovica, Sid, Zabalj, djak"
    assert sms_segments(without_diacritics("Opština Klokot " * 10)).encoding == "GSM-7"
    # Albanian's ë and ç (GSM-7 has the capital Ç only); Serbian letters left to Serbian.
    albanian = without_diacritics("Komuna e Kllokotit: dëgjimi për buxhetin, Çarshia, çdo ditë",
                                  "sq")
    assert albanian == "Komuna e Kllokotit: degjimi per buxhetin, Çarshia, cdo dite"
    assert sms_segments(albanian).encoding == "GSM-7"
    assert without_diacritics("Opština", "sq") == "Opština"
    assert without_diacritics("Opština", "en") == "Opština"


def test_an_sms_body_is_the_plain_text() -> None:
    reply = Reply("Sednica „Skupštine“ – u 10:00…\n", buttons=[[Button("Da", "yes")]])
    assert sms_body(reply, strip_diacritics=False) == 'Sednica "Skupštine" - u 10:00...'
    assert sms_body(reply, strip_diacritics=True) == 'Sednica "Skupstine" - u 10:00...'


# --- keywords --------------------------------------------------------------------

@pytest.mark.parametrize(("text", "kind", "language"), [
    ("KLOKOT", sms.Keyword.start, None),
    (" start ", sms.Keyword.start, None),
    ("Počni", sms.Keyword.start, "sr_Latn"),
    ("POCNI", sms.Keyword.start, "sr_Latn"),
    ("prijava.", sms.Keyword.start, "sr_Latn"),
    ("ПОЧНИ", sms.Keyword.start, "sr_Cyrl"),
    ("клокот", sms.Keyword.start, "sr_Cyrl"),
    ("Fillo", sms.Keyword.start, "sq"),
    ("KLLOKOT", sms.Keyword.start, "sq"),
    ("join", sms.Keyword.start, "en"),
    ("STOP", sms.Keyword.stop, None),
    ("Stop!", sms.Keyword.stop, None),
    ("odjava", sms.Keyword.stop, "sr_Latn"),
    ("стоп", sms.Keyword.stop, "sr_Cyrl"),
    ("ОДЈАВА", sms.Keyword.stop, "sr_Cyrl"),
    ("ndalo", sms.Keyword.stop, "sq"),
    ("ÇREGJISTROHU", sms.Keyword.stop, "sq"),
    ("unsubscribe", sms.Keyword.stop, "en"),
])
def test_keywords_in_each_language(text: str, kind: sms.Keyword, language: str | None) -> None:
    assert sms.keyword(get_profile(), text) == (kind, language)


@pytest.mark.parametrize("text", ["", "Stop sending me this", "STOPPING", "Dobar dan",
                                  "start please", "!!!", "ПОЧНИ ОДМАХ"])
def test_other_texts_are_no_keyword(text: str) -> None:
    assert sms.keyword(get_profile(), text) is None


# --- registering and stopping ----------------------------------------------------

def test_registering_at_the_counter_records_the_consent(db: Database) -> None:
    now = utcnow()
    with db.session() as session:
        citizen = sms.register(session, phone="044 123 456", settlement="klokot",
                               language="sq", topics=["assembly", "emergencies"],
                               source="counter", officer="officer1", now=now)
        assert citizen.phone == "+38344123456" and citizen.language == "sq"
        account = sms.sms_account(session, "+38344123456")
        assert account is not None and account.chat_id == "+38344123456"
        consent = session.scalars(select(SmsSubscription)).one()
        assert consent.source is SmsConsentSource.counter
        assert consent.registered_by == "officer1" and consent.stopped_at is None
        assert sms.is_active(session, account)
        assert set(session.scalars(select(Subscription.topic))) == {"assembly", "emergencies"}


def test_a_number_that_is_not_one_is_refused(db: Database) -> None:
    with db.session() as session, pytest.raises(Invalid) as refused:
        sms.register(session, phone="12", settlement=None, language=None, topics=None,
                     source="phone", officer="officer1", now=utcnow())
    assert refused.value.field == "phone"


def test_stop_blocks_and_a_new_registration_opens_again(db: Database) -> None:
    now = utcnow()
    with db.session() as session:
        sms.register(session, phone="+38344123456", settlement=None, language="en",
                     topics=["assembly"], source="keyword", officer="ignored", now=now)
        account = sms.sms_account(session, "+38344123456")
        assert account is not None
        enqueue(session, account, Reply("queued before"), profile=get_profile(), origin="bot")
        assert sms.stop(session, "+38344123456", now)
        assert not sms.stop(session, "+38344123456", now)  # once
        assert account.blocked_at is not None and not sms.is_active(session, account)
        row = session.scalars(select(OutboxMessage)).one()
        assert row.status is OutboxStatus.skipped
        consent = session.scalars(select(SmsSubscription)).one()
        assert consent.registered_by is None  # a keyword has no officer
        sms.register(session, phone="044123456", settlement="klokot", language=None,
                     topics=None, source="counter", officer="officer2", now=now)
        assert account.blocked_at is None and consent.stopped_at is None
        assert consent.registered_by == "officer2"
        assert set(session.scalars(select(Subscription.topic))) == {"assembly"}
        assert session.scalars(select(ChannelAccount)).one().id == account.id


def test_stop_of_a_number_never_registered_is_nothing(db: Database) -> None:
    with db.session() as session:
        assert not sms.stop(session, "+38344999999", utcnow())


# --- the profile -----------------------------------------------------------------

def test_the_profile_s_sms_rules() -> None:
    rules = get_profile().sms
    assert rules.enabled and rules.monthly_segment_budget > 0
    assert rules.cost(10) == pytest.approx(0.7)
    assert set(rules.keyword_topics) <= set(get_profile().topic_codes())


@pytest.mark.parametrize(("change", "message"), [
    (("keyword_topics = [\"public_debates\", \"emergencies\"]", "keyword_topics = [\"nope\"]"),
     "unknown topics"),
    (("sr_Latn = [\"ODJAVA\", \"PREKINI\"]", "xx = [\"ODJAVA\"]"), "not an enabled locale"),
    (("monthly_segment_budget = 5000", "monthly_segment_budget = -1"), "not negative"),
])
def test_a_wrong_sms_section_is_named(tmp_path: Path, change: tuple[str, str],
                                      message: str) -> None:
    text = DEFAULT_PROFILE.read_text(encoding="utf-8")
    assert change[0] in text
    path = tmp_path / "profile.toml"
    path.write_text(text.replace(change[0], change[1]), encoding="utf-8")
    with pytest.raises(ProfileError, match=message):
        load_profile(path)


def test_retention_forgets_the_strangers_numbers(db: Database) -> None:
    from datetime import timedelta

    from bot.models import SmsKeywordReply
    from bot.outbox.queue import enqueue_to_number
    from bot.services.data_rights import ERASED_CHAT, apply_retention

    profile = get_profile()
    long_ago = utcnow() - timedelta(days=profile.retention_days + 2)
    with db.session() as session:
        session.add(SmsKeywordReply(phone="+38344999999", day=long_ago.date(),
                                    created_at=long_ago))
        row = enqueue_to_number(session, "sms", "+38344999999", Reply("keywords"),
                                now=long_ago)
        row.status = OutboxStatus.sent
        session.add(SmsKeywordReply(phone="+38344888888", day=utcnow().date()))
    with db.session() as session:
        apply_retention(session, profile, utcnow())
    with db.read_session() as session:
        assert [r.phone for r in session.scalars(select(SmsKeywordReply))] == ["+38344888888"]
        assert session.scalars(select(OutboxMessage)).one().chat_id == ERASED_CHAT
