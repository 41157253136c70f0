"""Surveys in the chat: a definition checked field by field, the flow in
every locale (back, skip, stop and resume after a restart), one response
per citizen even across linked apps, stale and closed buttons, and the
anonymity of the stored rows."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import Database, utcnow
from bot.entry.chat import TerminalChat
from bot.i18n import Catalogs
from bot.messages import Kind, Media
from bot.models import Survey, SurveyMarker, SurveyParticipant, SurveyResponse
from bot.profile import get_profile
from bot.refusals import Refused
from bot.services import surveys as service
from tests.factories import make_incoming, make_runtime, texts
from tests.handlers.test_reception import citizen_chat, tap

T = Catalogs()
PROFILE = get_profile()
LOCALES = ["sr_Latn", "sr_Cyrl", "sq", "en"]


def t(locale: str, key: str, **params: object) -> str:
    return T.gettext(locale, key, **params)


def tr(text: str) -> dict[str, str]:
    return {"sr_Latn": f"{text} (sr)", "sr_Cyrl": f"{text} (ср)", "sq": f"{text} (sq)",
            "en": text}


def definition(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": "citizens-2026", "title": tr("Citizens' survey"), "anonymous": True,
        "questions": [
            {"key": "satisfaction", "type": "scale", "min": 1, "max": 5, "required": True,
             "text": tr("How satisfied are you with the municipality?")},
            {"key": "channel", "type": "single", "required": True, "text": tr("News from?"),
             "options": [{"key": "web", "text": tr("Website")},
                         {"key": "radio", "text": tr("Radio")}]},
            {"key": "topics", "type": "multiple", "max_choices": 2, "required": False,
             "text": tr("Which topics?"),
             "options": [{"key": "roads", "text": tr("Roads")},
                         {"key": "water", "text": tr("Water")},
                         {"key": "jobs", "text": tr("Jobs")}]},
            {"key": "comment", "type": "text", "required": False, "text": tr("Anything else?")},
        ]}
    data.update(changes)
    return data


def open_survey(db: Database, **changes: Any) -> str:
    with db.session() as session:
        survey = service.create(session, PROFILE, definition(**changes), by="info1",
                                now=utcnow())
        service.publish(session, survey, utcnow())
        return survey.slug


def press(chat: TerminalChat, suffix: str) -> str:
    """Tap the button whose payload ends with `suffix` (e.g. ":v4", ":o1")."""
    for number, button in enumerate(chat.buttons, 1):
        if button.payload.endswith(suffix):
            return texts(chat.send(str(number)))
    raise AssertionError(f"no button ending {suffix!r}: {[b.payload for b in chat.buttons]}")


# --- definitions -------------------------------------------------------------------

@pytest.mark.parametrize(("change", "field", "words"), [
    ({"slug": "Citizens 2026"}, "slug", "must match"),
    ({"title": {"en": "Only English"}}, "title", "sr_Latn, sr_Cyrl, sq"),
    ({"closes_at": "2026-12-01T08:00:00+01:00", "opens_at": "2026-12-31T08:00:00+01:00"},
     "closes_at", "after opens_at"),
    ({"opens_at": "2026-12-01 08:00"}, "opens_at", "UTC offset"),
    ({"audience": {"settlements": ["belgrade"]}}, "audience.settlements", "klokot"),
    ({"questions": []}, "questions", "at least one"),
])
def test_definition_problems_are_named(change: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(service.SurveyInvalid) as invalid:
        service.check_definition(PROFILE, definition(**change))
    assert any(f == field and words in m for f, m in invalid.value.problems), \
        invalid.value.problems


@pytest.mark.parametrize(("question", "field", "words"), [
    ({"key": "satisfaction", "type": "text", "text": tr("again")}, "questions[4].key",
     "duplicate"),
    ({"key": "x", "type": "ranking", "text": tr("?")}, "questions[4].type", "unknown type"),
    ({"key": "x", "type": "scale", "min": 5, "max": 5, "text": tr("?")}, "questions[4].min",
     "min < max"),
    ({"key": "x", "type": "single", "text": tr("?")}, "questions[4].options", "needs options"),
    ({"key": "x", "type": "multiple", "options": [], "text": tr("?")}, "questions[4].options",
     "needs options"),
    ({"key": "x", "type": "text", "text": {"en": "?", "sq": "?"}}, "questions[4].text",
     "missing translation: sr_Latn, sr_Cyrl"),
    ({"key": "x", "type": "single", "text": tr("?"),
      "options": [{"key": "a", "text": tr("A")}, {"key": "a", "text": tr("B")}]},
     "questions[4].options[1].key", "duplicate"),
])
def test_question_problems_are_named(question: dict[str, Any], field: str, words: str) -> None:
    data = definition()
    data["questions"].append(question)
    with pytest.raises(service.SurveyInvalid) as invalid:
        service.check_definition(PROFILE, data)
    assert any(f == field and words in m for f, m in invalid.value.problems), \
        invalid.value.problems


def test_questions_freeze_once_someone_answered(db: Database) -> None:
    slug = open_survey(db)
    chat = citizen_chat(db, "ana")
    chat.send("/survey")
    tap(chat, f"srv:{slug}:start")
    press(chat, ":v5")
    press(chat, ":o0")
    press(chat, ":skip")
    press(chat, ":skip")
    changed = definition()
    changed["questions"] = changed["questions"][:2]
    with db.session() as session:
        survey = session.scalars(select(Survey)).one()
        with pytest.raises(Refused) as refused:
            service.update(session, PROFILE, survey, changed)
        assert refused.value.code == "has_responses"
        service.update(session, PROFILE, survey, {**definition(), "title": tr("New title")})
        assert survey.title["en"] == "New title"


# --- the flow -----------------------------------------------------------------------

@pytest.mark.parametrize("locale", LOCALES)
def test_take_a_survey_with_back_skip_and_text(db: Database, locale: str) -> None:
    slug = open_survey(db)
    chat = citizen_chat(db, "bo", locale)
    listing = texts(chat.send("/survey"))
    assert t(locale, "surveys.choose") in listing
    intro = tap(chat, f"srv:{slug}:start")
    assert t(locale, "surveys.intro", title=tr("Citizens' survey")[locale], count=4) in intro
    assert tr("How satisfied are you with the municipality?")[locale] in intro
    press(chat, ":v2")
    back = press(chat, ":back")  # changes their mind
    assert t(locale, "surveys.question", n=1, total=4,
             text=tr("How satisfied are you with the municipality?")[locale]) in back
    press(chat, ":v4")
    press(chat, ":o1")  # radio
    press(chat, ":o0")  # roads
    press(chat, ":o2")  # jobs
    assert t(locale, "surveys.too_many", max=2) in press(chat, ":o1")  # water: one too many
    done = press(chat, ":done")
    assert t(locale, "surveys.hint_text", max=2000) in done
    thanks = texts(chat.send("Više rasvete u Vrbovcu, molim."))
    assert thanks == t(locale, "surveys.thanks")
    with db.read_session() as session:
        response = session.scalars(select(SurveyResponse)).one()
    assert response.answers == {"satisfaction": 4, "channel": "radio",
                                "topics": ["roads", "jobs"],
                                "comment": "Više rasvete u Vrbovcu, molim."}
    assert texts(chat.send("/survey")) == t(locale, "surveys.none_left")


def test_stop_and_resume_after_a_restart_and_after_other_flows(db: Database) -> None:
    slug = open_survey(db)
    chat = citizen_chat(db, "cira")
    chat.send("/survey")
    tap(chat, f"srv:{slug}:start")
    press(chat, ":v3")
    assert press(chat, ":stop") == t("en", "surveys.stopped")
    chat.send("/complaint")  # another flow in between
    chat.send("/cancel")
    restarted = TerminalChat(make_runtime(db).engine, db, user="cira", out=io.StringIO())
    listing = texts(restarted.send("/survey"))
    assert listing.startswith(t("en", "surveys.choose"))
    assert restarted.buttons[0].label == t(
        "en", "surveys.continue", title="Citizens' survey")
    resumed = tap(restarted, f"srv:{slug}:start")
    assert t("en", "surveys.question", n=2, total=4, text="News from?") in resumed
    press(restarted, ":o0")
    press(restarted, ":skip")
    press(restarted, ":skip")
    with db.read_session() as session:
        assert session.scalars(select(SurveyResponse)).one().answers == {
            "satisfaction": 3, "channel": "web"}


def test_required_questions_cannot_be_skipped_and_text_or_photos_are_refused(
        db: Database) -> None:
    slug = open_survey(db)
    chat = citizen_chat(db, "dara")
    chat.send("/survey")
    first = tap(chat, f"srv:{slug}:start")
    assert t("en", "surveys.skip") not in first and not any(
        b.payload.endswith(":skip") for b in chat.buttons)
    assert t("en", "surveys.use_buttons") in texts(chat.send("five"))
    runtime = make_runtime(db)
    forged = make_incoming(user="dara", payload=f"srv:{slug}:0:skip")
    assert t("en", "error.stale_button") in texts(runtime.engine.handle(forged).replies)
    press(chat, ":v5")
    press(chat, ":o0")
    press(chat, ":done")  # optional multiple with nothing chosen
    photo = make_incoming(kind=Kind.photo, user="dara", media=(Media(file_id="p"),))
    assert t("en", "error.expected_text") in texts(runtime.engine.handle(photo).replies)
    with db.read_session() as session:
        assert session.scalars(select(SurveyResponse)).all() == []


def test_buttons_of_another_question_or_a_closed_survey(db: Database) -> None:
    slug = open_survey(db)
    chat = citizen_chat(db, "ema")
    chat.send("/survey")
    tap(chat, f"srv:{slug}:start")
    press(chat, ":v1")
    runtime = make_runtime(db)
    old = make_incoming(user="ema", payload=f"srv:{slug}:0:v5")
    answer = texts(runtime.engine.handle(old).replies)
    assert t("en", "surveys.other_question") in answer
    with db.session() as session:
        survey = session.scalars(select(Survey)).one()
        service.close(session, survey, utcnow())
    late = make_incoming(user="ema", payload=f"srv:{slug}:1:o0")
    assert texts(runtime.engine.handle(late).replies) == t("en", "surveys.closed")
    chat.deliver()  # what the engine calls above queued for this chat
    assert texts(chat.send("/survey")) == t("en", "surveys.none")
    with db.read_session() as session:
        assert session.scalars(select(SurveyResponse)).all() == []


def test_closing_time_closes_it(db: Database) -> None:
    closes = (utcnow() + timedelta(hours=1)).isoformat()
    open_survey(db, closes_at=closes)
    with db.session() as session:
        assert service.close_expired(session, utcnow()) == 0
        assert service.close_expired(session, utcnow() + timedelta(hours=2)) == 1


def test_audience_by_settlement_and_diaspora(db: Database) -> None:
    open_survey(db, audience={"settlements": ["vrbovac"], "diaspora": True})
    with db.session() as session:
        from bot.models import Citizen

        def who(settlement: str | None) -> Citizen:
            return Citizen(settlement=settlement)

        survey = session.scalars(select(Survey)).one()
        assert service.in_audience(survey, who("vrbovac"))
        assert service.in_audience(survey, who("abroad"))
        assert not service.in_audience(survey, who("klokot"))
        assert not service.in_audience(survey, who(None))
        survey.audience = {"settlements": None, "diaspora": False}
        assert service.in_audience(survey, who("klokot"))
        assert not service.in_audience(survey, who("abroad"))
        survey.audience = {"diaspora": True}
        assert service.in_audience(survey, who("abroad"))
        assert not service.in_audience(survey, who("klokot"))


def survey_key(db: Database) -> str:
    return make_runtime(db).settings.resolved_survey_key()


def walk(chat: TerminalChat, slug: str) -> str:
    chat.send("/survey")
    tap(chat, f"srv:{slug}:start")
    press(chat, ":v4")
    press(chat, ":o0")
    press(chat, ":skip")
    return press(chat, ":skip")


def test_an_anonymous_survey_stores_nothing_that_points_at_the_citizen(db: Database) -> None:
    slug = open_survey(db)
    chat = citizen_chat(db, "fila")
    walk(chat, slug)
    with db.read_session() as session:
        response = session.scalars(select(SurveyResponse)).one()
        participant = session.scalars(select(SurveyParticipant)).one()
        marked = session.scalars(select(SurveyMarker)).one()
        from bot.models import ChannelAccount

        account = session.scalars(select(ChannelAccount)).one()
    assert (response.citizen_id, response.channel, response.language, response.settlement,
            response.completed_at) == (None, None, None, None, None)
    assert response.completed_on == utcnow().date()
    # Without the survey key, the marker does not lead back: a guess with another key fails.
    assert participant.token is None and marked.participant_id == participant.id
    with db.read_session() as session:
        survey = session.scalars(select(Survey)).one()
        assert marked.marker == service.marker(survey_key(db), survey, account)
        assert marked.marker != service.marker("another-key-0123456789", survey, account)


def test_a_named_survey_keeps_who_channel_and_settlement(db: Database) -> None:
    slug = open_survey(db, anonymous=False)
    walk(citizen_chat(db, "gaga"), slug)
    with db.read_session() as session:
        response = session.scalars(select(SurveyResponse)).one()
    assert response.citizen_id is not None and response.channel == "terminal"
    assert response.language == "en" and response.completed_at is not None


def test_one_response_per_citizen_across_linked_apps(db: Database) -> None:
    slug = open_survey(db)
    runtime = make_runtime(db)

    def say(text: str | None, *, channel: str, payload: str | None = None) -> str:
        incoming = make_incoming(text, user=f"{channel}-hana", channel=channel,
                                 payload=payload)
        return texts(runtime.engine.handle(incoming).replies)

    for channel in ("telegram", "viber"):
        say(None, channel=channel, payload="lang:en")
        say(None, channel=channel, payload="privacy:ok")
    for payload in (f"srv:{slug}:start", f"srv:{slug}:0:v5", f"srv:{slug}:1:o1",
                    f"srv:{slug}:2:skip", f"srv:{slug}:3:skip"):
        say(None, channel="telegram", payload=payload)
    with db.read_session() as session:
        from bot.models import LinkCode

        say("/link", channel="telegram")
        code = session.scalars(select(LinkCode)).one().code
    assert say(f"/link {code}", channel="viber") == t("en", "link.done",
                                                        apps="Telegram + Viber")
    assert say(None, channel="viber", payload=f"srv:{slug}:start") == t(
        "en", "surveys.already", title="Citizens' survey")
    with db.read_session() as session:
        assert len(session.scalars(select(SurveyResponse)).all()) == 1


# --- anonymity (#13, items 12 and 13) ----------------------------------------------------

@pytest.mark.parametrize("locale", LOCALES)
def test_the_thank_you_holds_no_running_count(db: Database, locale: str) -> None:
    """"People who have answered so far: N" was the answer's row in the export,
    kept 90 days in the outbox beside the chat (review 2, item 12)."""
    slug = open_survey(db)
    said = [walk(citizen_chat(db, f"count-{n}", locale), slug) for n in range(3)]
    assert said == [t(locale, "surveys.thanks")] * 3
    assert not any(ch.isdigit() for ch in said[2])


@pytest.mark.parametrize("locale", LOCALES)
def test_the_intro_says_whether_the_answers_are_anonymous(db: Database, locale: str) -> None:
    """Review 2, item 13: the citizen learns before the first question whether
    their answers are kept with their name."""
    anonymous = open_survey(db)
    named = open_survey(db, slug="named-2026", anonymous=False)
    chat = citizen_chat(db, "intro", locale)
    chat.send("/survey")
    first = tap(chat, f"srv:{anonymous}:start")
    press(chat, ":stop")
    chat.send("/survey")
    second = tap(chat, f"srv:{named}:start")
    assert t(locale, "surveys.anonymous_note") in first
    assert t(locale, "surveys.named_note") not in first
    assert t(locale, "surveys.named_note") in second
    assert t(locale, "surveys.anonymous_note") not in second
    assert t(locale, "surveys.anonymous_note") != t(locale, "surveys.named_note")


# --- one answer per person, whatever happens to the citizen row (#13, item 14) -------------

class Person:
    """One person with a Telegram and a Viber account, talking to the engine."""

    def __init__(self, db: Database, name: str, **settings: Any) -> None:
        self.db, self.name = db, name
        self.runtime = make_runtime(db, **settings)

    def say(self, channel: str, text: str | None = None, payload: str | None = None) -> str:
        incoming = make_incoming(text, user=f"{channel}-{self.name}", channel=channel,
                                 payload=payload)
        return texts(self.runtime.engine.handle(incoming).replies)

    def onboard(self, channel: str) -> None:
        self.say(channel, payload="lang:en")
        self.say(channel, payload="privacy:ok")

    def answer(self, channel: str, slug: str, steps: tuple[str, ...] | None = None) -> str:
        said = ""
        for step in steps or ("start", "0:v5", "1:o1", "2:skip", "3:skip"):
            said = self.say(channel, payload=f"srv:{slug}:{step}")
        return said

    def link(self, asking: str, sending: str) -> str:
        """`asking` asks for a code, `sending` sends it: `sending` joins `asking`'s citizen."""
        from bot.models import LinkCode

        self.say(asking, "/link")
        with self.db.read_session() as session:
            code = session.scalars(select(LinkCode).order_by(LinkCode.id.desc())).first()
            assert code is not None
        return self.say(sending, f"/link {code.code}")

    def rotated(self) -> Person:
        """The same person after the operator set a new SECRET_KEY."""
        return Person(self.db, self.name, secret_key="a-rotated-secret-key-0123456789")


def responses_count(db: Database) -> int:
    with db.read_session() as session:
        return len(session.scalars(select(SurveyResponse)).all())


ALREADY = t("en", "surveys.already", title="Citizens' survey")
THANKS = t("en", "surveys.thanks")


def test_linking_the_app_that_answered_to_another_does_not_give_a_second_answer(
        db: Database) -> None:
    """Review 2: `/link` from the app that already answered moved it to the
    other app's citizen — a new citizen id, so a fresh token."""
    slug = open_survey(db)
    ana = Person(db, "ana")
    ana.onboard("telegram")
    ana.onboard("viber")
    assert ana.answer("telegram", slug) == THANKS
    assert ana.link("viber", "telegram") == t("en", "link.done", apps="Telegram + Viber")
    assert ana.answer("telegram", slug, ("start",)) == ALREADY
    assert ana.answer("viber", slug, ("start",)) == ALREADY
    assert responses_count(db) == 1


def test_link_off_does_not_give_a_second_answer(db: Database) -> None:
    """`/link off` makes the account a new citizen; the person answered already."""
    slug = open_survey(db)
    bo = Person(db, "bo")
    bo.onboard("telegram")
    bo.onboard("viber")
    bo.link("telegram", "viber")
    assert bo.answer("viber", slug) == THANKS
    for _ in range(3):  # the loop of the review: link off, answer, link again
        assert bo.say("viber", "/link off") == t("en", "link.separated")
        assert bo.answer("viber", slug, ("start",)) == ALREADY
        assert bo.answer("telegram", slug, ("start",)) == ALREADY
        bo.link("telegram", "viber")
    assert bo.say("telegram", "/survey") == t("en", "surveys.none_left")
    assert responses_count(db) == 1


def test_forget_and_return_does_not_give_a_second_answer(db: Database) -> None:
    """/forget erases the citizen; the markers, keyed hashes of the accounts
    that say nothing without the survey key, stay."""
    slug = open_survey(db)
    cira = Person(db, "cira")
    cira.onboard("telegram")
    assert cira.answer("telegram", slug) == THANKS
    cira.say("telegram", "/forget")
    cira.say("telegram", payload="forget:yes")
    with db.read_session() as session:
        from bot.models import Citizen

        assert session.scalars(select(Citizen)).one().erased_at is not None
    cira.say("telegram", "/start")
    cira.onboard("telegram")  # back, as a new citizen
    assert cira.answer("telegram", slug, ("start",)) == ALREADY
    assert responses_count(db) == 1


def test_a_new_secret_key_does_not_give_a_second_answer(db: Database) -> None:
    slug = open_survey(db)
    dara = Person(db, "dara")
    dara.onboard("telegram")
    assert dara.answer("telegram", slug) == THANKS
    assert dara.rotated().answer("telegram", slug, ("start",)) == ALREADY
    assert responses_count(db) == 1


def test_an_app_refused_while_linked_stays_refused_after_link_off(db: Database) -> None:
    """Each app answered alone is one person as far as anyone can tell; once
    linked, the person is refused from either app, and stays refused after
    `/link off`."""
    slug = open_survey(db)
    ema = Person(db, "ema")
    ema.onboard("telegram")
    ema.onboard("viber")
    assert ema.answer("telegram", slug) == THANKS
    ema.link("telegram", "viber")
    assert ema.answer("viber", slug, ("start",)) == ALREADY
    ema.say("viber", "/link off")
    assert ema.answer("viber", slug, ("start",)) == ALREADY
    assert responses_count(db) == 1


@pytest.mark.parametrize("move", ["link", "link_off", "rotate"])
def test_a_half_done_survey_resumes_after_linking_or_unlinking(db: Database,
                                                               move: str) -> None:
    slug = open_survey(db)
    fila = Person(db, "fila")
    fila.onboard("telegram")
    fila.onboard("viber")
    if move == "link_off":
        fila.link("viber", "telegram")
    fila.answer("telegram", slug, ("start", "0:v2"))  # stops after the first question
    if move == "link":
        fila.link("viber", "telegram")
    elif move == "link_off":
        assert fila.say("telegram", "/link off") == t("en", "link.separated")
    else:
        fila = fila.rotated()
    resumed = fila.answer("telegram", slug, ("start",))
    assert t("en", "surveys.question", n=2, total=4, text="News from?") in resumed
    assert t("en", "surveys.anonymous_note") not in resumed  # not started anew
    assert fila.answer("telegram", slug, ("1:o0", "2:skip", "3:skip")) == THANKS
    with db.read_session() as session:
        assert session.scalars(select(SurveyResponse)).one().answers == {
            "satisfaction": 2, "channel": "web"}
    if move != "rotate":  # viber was linked to the person: the same person
        assert fila.answer("viber", slug, ("start",)) == ALREADY


def test_an_answer_given_before_the_markers_still_counts(db: Database) -> None:
    """A participation from before the upgrade is known only by its old token;
    the person is refused, and from then on their accounts are marked too."""
    from bot.models import Citizen

    slug = open_survey(db)
    gaga = Person(db, "gaga")
    gaga.onboard("telegram")
    gaga.onboard("viber")
    gaga.link("telegram", "viber")
    with db.session() as session:
        survey = session.scalars(select(Survey)).one()
        citizen = session.scalars(select(Citizen)).one()
        secret = gaga.runtime.settings.resolved_secret_key()
        session.add(SurveyParticipant(survey_id=survey.id, completed=True,
                                      token=service.token(secret, survey, citizen.id),
                                      started_on=utcnow().date()))
    assert gaga.answer("telegram", slug, ("start",)) == ALREADY
    gaga.say("viber", "/link off")
    assert gaga.answer("viber", slug, ("start",)) == ALREADY
    with db.read_session() as session:
        assert len(session.scalars(select(SurveyMarker)).all()) == 2


def test_the_timer_rewrites_a_days_anonymous_answers_apart_from_their_chats(
        db: Database) -> None:
    """An anonymous response is written in the transaction that records the
    citizen's message (`inbound_update`, with their account) and queues their
    thank-you: on PostgreSQL these rows carry that transaction's id (`xmin`),
    and a dump keeps the order they came in — the chat of every answer, to
    whoever reads the database (review 2, item 12). The timer rewrites the
    day's answers together, shuffled: nothing shared with any chat's rows, no
    order left. A named survey's rows stay as they are."""
    from sqlalchemy import text

    slug = open_survey(db)
    named = open_survey(db, slug="named-2026", anonymous=False)
    for n in range(4):
        walk(citizen_chat(db, f"mix-{n}"), slug)
    walk(citizen_chat(db, "named-one"), named)
    postgres = not db.is_sqlite

    def traces() -> tuple[dict[int, tuple[Any, bool, int | None]], set[str], list[str]]:
        with db.read_session() as session:
            rows = {r.id: (r.answers, r.mixed, r.citizen_id) for r in session.scalars(
                select(SurveyResponse).order_by(SurveyResponse.id))}
            if not postgres:
                return rows, set(), []
            outbox = set(session.scalars(text(
                "SELECT xmin::text FROM inbound_update UNION SELECT xmin::text FROM "
                "outbox_message UNION SELECT xmin::text FROM conversation")))
            mine = list(session.scalars(text(
                "SELECT xmin::text FROM survey_response WHERE citizen_id IS NULL")))
            return rows, outbox, mine

    before, outbox, mine = traces()
    assert sorted(m for _, m, _ in before.values()) == [False] * 4 + [True]
    if postgres:  # the attack: each answer's transaction is its citizen's message's
        assert set(mine) <= outbox
    with db.session() as session:
        assert service.mix_anonymous(session) == 4
    with db.session() as session:
        assert service.mix_anonymous(session) == 0  # nothing new: nothing rewritten
    after, outbox, mine = traces()
    assert all(m for _, m, _ in after.values())
    named_ids = {i for i, (_, _, who) in before.items() if who is not None}
    assert named_ids <= set(after) and not (set(before) - named_ids) & set(after)
    assert sorted(str(a) for a, _, _ in after.values()) == sorted(
        str(a) for a, _, _ in before.values())
    if postgres:
        assert len(set(mine)) == 1 and not set(mine) & outbox
