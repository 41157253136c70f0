"""/survey (SPEC §3.5): the open surveys this citizen may take, one question
at a time — buttons for choices and scales, free text up to 2,000
characters — with back, skip (optional questions), stop and resume later.
Answers in progress stay in the conversation (under `keep:`, so other
flows leave them alone) and become a response only at the end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.engine.context import KEEP_PREFIX, Context
from bot.engine.fsm import State, StatesGroup
from bot.engine.router import Router
from bot.i18n import Catalogs
from bot.messages import BUTTON_CHARS, Button, Kind, fit_label
from bot.models import Survey, SurveyStatus
from bot.profile import Profile
from bot.services import surveys as service

router = Router("surveys")
PROGRESS = f"{KEEP_PREFIX}surveys"


class SurveyFlow(StatesGroup):
    answering = State()


def _progress(ctx: Context) -> dict[str, dict[str, Any]]:
    return dict(ctx.data.get(PROGRESS) or {})


def _save(ctx: Context, slug: str, entry: dict[str, Any] | None) -> None:
    progress = _progress(ctx)
    if entry is None:
        progress.pop(slug, None)
    else:
        progress[slug] = entry
    ctx.update_data(**{PROGRESS: progress})


def _keys(ctx: Context) -> service.Keys:
    return service.Keys(survey=ctx.survey_key, legacy=ctx.secret_key)


def _title(ctx: Context, survey: Survey) -> str:
    return survey.title.get(ctx.locale) or survey.title.get("en") or survey.slug


def survey_label(t: Callable[..., str], title: str, *, started: bool) -> str:
    """A survey on a button: its title cut with "…" to fit (the full title opens
    the survey), after "Continue:" when the citizen has begun it."""
    if not started:
        return fit_label(title)
    room = BUTTON_CHARS - len(t("surveys.continue", title=""))
    return t("surveys.continue", title=fit_label(title, room))


@router.command("survey")
@router.menu_item("survey", "menu.survey", order=40)
def surveys(ctx: Context) -> None:
    ctx.clear()
    found = service.available(ctx.session, _keys(ctx), ctx.citizen, ctx.now)
    progress = _progress(ctx)
    rows = []
    for survey, done in found:
        if done:
            continue
        rows.append([Button(survey_label(ctx.t, _title(ctx, survey),
                                         started=survey.slug in progress),
                            f"srv:{survey.slug}:start")])
    if not rows:
        answered = any(done for _, done in found)
        ctx.reply(ctx.t("surveys.none_left" if answered else "surveys.none"), [ctx.menu_row()])
        return
    ctx.reply(ctx.t("surveys.choose"), [*rows, ctx.menu_row()])


def _survey(ctx: Context, slug: str) -> Survey | None:
    return ctx.session.scalar(select(Survey).where(Survey.slug == slug))


def _closed(ctx: Context, slug: str) -> None:
    _save(ctx, slug, None)
    ctx.set_state(None)
    ctx.reply(ctx.t("surveys.closed"), [ctx.menu_row()])


@router.action("srv")
def on_survey_button(ctx: Context) -> None:
    slug, _, rest = (ctx.payload("srv") or "").partition(":")
    survey = _survey(ctx, slug)
    # Only a published survey open to this citizen: a slug typed on Viber
    # (a draft, another settlement's) gets the old-button answer.
    if (survey is None or survey.status is SurveyStatus.draft
            or not service.in_audience(survey, ctx.citizen)):
        ctx.stale()
        return
    if not service.is_running(survey, ctx.now):
        _closed(ctx, slug)
        return
    entry = _progress(ctx).get(slug)
    if rest == "start":
        begin(ctx, survey)
        return
    where, _, action = rest.partition(":")
    if entry is None or not where.isdigit():
        ctx.reply(ctx.t("error.stale_button"), [ctx.menu_row()])
        return
    if int(where) != entry["i"] or entry["i"] >= len(survey.questions):  # another question
        ctx.preface(ctx.t("surveys.other_question"))
        ask(ctx, survey)
        return
    question = survey.questions[entry["i"]]
    if action == "stop":
        ctx.set_state(None)
        ctx.reply(ctx.t("surveys.stopped"), [ctx.menu_row()])
    elif action == "back":
        entry["i"] = max(0, entry["i"] - 1)
        entry["m"] = list(entry["a"].get(survey.questions[entry["i"]]["key"]) or []) \
            if survey.questions[entry["i"]]["type"] == "multiple" else []
        _save(ctx, slug, entry)
        ask(ctx, survey)
    elif action == "skip" and not question["required"]:
        entry["a"].pop(question["key"], None)
        advance(ctx, survey, entry)
    elif action.startswith("o") and action[1:].isdigit() and question["type"] in (
            "single", "multiple") and int(action[1:]) < len(question["options"]):
        choose(ctx, survey, entry, question, question["options"][int(action[1:])]["key"])
    elif action.startswith("v") and action[1:].lstrip("-").isdigit() and \
            question["type"] == "scale" and \
            question["min"] <= int(action[1:]) <= question["max"]:
        entry["a"][question["key"]] = int(action[1:])
        advance(ctx, survey, entry)
    elif action == "done" and question["type"] == "multiple":
        if not entry.get("m") and question["required"]:
            ctx.preface(ctx.t("surveys.choose_one"))
            ask(ctx, survey, in_place=True)  # the question stays where it is
            return
        entry["a"][question["key"]] = list(entry.get("m") or [])
        advance(ctx, survey, entry)
    else:
        ctx.preface(ctx.t("error.stale_button"))
        ask(ctx, survey)


def begin(ctx: Context, survey: Survey) -> None:
    entry = service.participant(ctx.session, survey, _keys(ctx), ctx.citizen)
    if entry is not None and entry.completed:
        _save(ctx, survey.slug, None)
        ctx.reply(ctx.t("surveys.already", title=_title(ctx, survey)), [ctx.menu_row()])
        return
    service.start(ctx.session, survey, _keys(ctx), ctx.citizen, ctx.now)
    progress = _progress(ctx).get(survey.slug)
    if progress is None:
        progress = {"i": 0, "a": {}, "m": []}
        _save(ctx, survey.slug, progress)
        # Whether the answers carry their name, said before the first one (#13, item 13).
        promise = ctx.t("surveys.anonymous_note" if survey.anonymous else "surveys.named_note")
        ctx.reply(ctx.t("surveys.intro", title=_title(ctx, survey),
                        count=len(survey.questions)) + "\n\n" + promise)
    ask(ctx, survey)


def ask(ctx: Context, survey: Survey, in_place: bool = False) -> None:
    """The current question; `in_place` redraws the message it is on (a tick)."""
    entry = _progress(ctx)[survey.slug]
    if entry["i"] >= len(survey.questions):  # staff shortened a draft meanwhile
        entry["i"] = len(survey.questions) - 1
        _save(ctx, survey.slug, entry)
    index = entry["i"]
    question = survey.questions[index]
    ctx.set_state(SurveyFlow.answering)
    ctx.update_data(s_current=survey.slug)
    base = f"srv:{survey.slug}:{index}"
    rows: list[list[Button]] = []
    hint = ""
    if question["type"] == "single":
        rows = [[Button(fit_label(o["text"].get(ctx.locale, o["key"])), f"{base}:o{j}")]
                for j, o in enumerate(question["options"])]
    elif question["type"] == "multiple":
        chosen = set(entry.get("m") or [])
        rows = [[Button(("✅ " if o["key"] in chosen else "▫️ ")
                        + fit_label(o["text"].get(ctx.locale, o["key"]), BUTTON_CHARS - 3),
                        f"{base}:o{j}")] for j, o in enumerate(question["options"])]
        rows.append([Button(ctx.t("surveys.done", count=len(chosen)), f"{base}:done")])
        hint = ctx.t("surveys.hint_multiple", max=question["max_choices"])
    elif question["type"] == "scale":
        values = range(question["min"], question["max"] + 1)
        buttons = [Button(str(v), f"{base}:v{v}") for v in values]
        rows = [buttons[i:i + 6] for i in range(0, len(buttons), 6)]
        hint = ctx.t("surveys.hint_scale", min=question["min"], max=question["max"])
    else:
        hint = ctx.t("surveys.hint_text", max=service.TEXT_MAX)
    nav = []
    if index > 0:
        nav.append(Button(ctx.t("button.back"), f"{base}:back"))
    if not question["required"]:
        nav.append(Button(ctx.t("surveys.skip"), f"{base}:skip"))
    nav.append(Button(ctx.t("surveys.stop"), f"{base}:stop"))
    text = ctx.t("surveys.question", n=index + 1, total=len(survey.questions),
                 text=question["text"].get(ctx.locale, ""))
    ctx.reply(f"{text}\n\n{hint}" if hint else text, [*rows, nav], in_place=in_place)


def choose(ctx: Context, survey: Survey, entry: dict[str, Any], question: dict[str, Any],
           option: str) -> None:
    if question["type"] == "single":
        entry["a"][question["key"]] = option
        advance(ctx, survey, entry)
        return
    chosen = list(entry.get("m") or [])
    if option in chosen:
        chosen.remove(option)
    elif len(chosen) >= question["max_choices"]:
        ctx.reply(ctx.t("surveys.too_many", max=question["max_choices"]))
    else:
        chosen.append(option)
    entry["m"] = chosen
    _save(ctx, survey.slug, entry)
    ask(ctx, survey, in_place=True)  # the ticks change on the same message


def advance(ctx: Context, survey: Survey, entry: dict[str, Any]) -> None:
    entry["i"] += 1
    if entry["i"] < len(survey.questions):
        following = survey.questions[entry["i"]]
        entry["m"] = list(entry["a"].get(following["key"]) or []) \
            if following["type"] == "multiple" else []
        _save(ctx, survey.slug, entry)
        ask(ctx, survey)
        return
    answers = {q["key"]: entry["a"][q["key"]] for q in survey.questions if q["key"] in entry["a"]}
    response = service.finish(ctx.session, survey, _keys(ctx), ctx.citizen,
                              ctx.msg.channel, answers, ctx.now)
    _save(ctx, survey.slug, None)
    ctx.set_state(None)
    if response is None:
        ctx.reply(ctx.t("surveys.already", title=_title(ctx, survey)), [ctx.menu_row()])
        return
    # No running count: it was the answer's place among the others, kept in the
    # outbox beside the chat (#13, item 12).
    ctx.reply(ctx.t("surveys.thanks"), [ctx.menu_row()])


@router.state(SurveyFlow.answering, accepts={Kind.text}, max_length=service.TEXT_MAX)
def on_text(ctx: Context) -> None:
    slug = ctx.data.get("s_current", "")
    survey = _survey(ctx, slug)
    entry = _progress(ctx).get(slug)
    if survey is None or entry is None:
        ctx.set_state(None)
        ctx.reply(ctx.t("error.stale_button"), [ctx.menu_row()])
        return
    if not service.is_running(survey, ctx.now):
        _closed(ctx, slug)
        return
    question = survey.questions[entry["i"]]
    if question["type"] != "text":
        ctx.preface(ctx.t("surveys.use_buttons"))
        ask(ctx, survey)
        return
    text = (ctx.msg.text or "").strip()
    if not text:
        ask(ctx, survey)
        return
    entry["a"][question["key"]] = text
    advance(ctx, survey, entry)


@router.prompt(SurveyFlow.answering)
def ask_again(ctx: Context) -> None:
    survey = _survey(ctx, ctx.data.get("s_current", ""))
    if survey is not None and survey.slug in _progress(ctx):
        ask(ctx, survey)
    else:
        ctx.set_state(None)
        ctx.reply(ctx.t("surveys.none"), [ctx.menu_row()])


@router.timer("surveys", every_seconds=60)
def surveys_timer(session: Session, profile: Profile, catalogs: Catalogs,
                  now: datetime) -> None:
    """Close what reached its closing time."""
    service.close_expired(session, now)


@router.timer("surveys_mix", every_seconds=300)
def mix_timer(session: Session, profile: Profile, catalogs: Catalogs, now: datetime) -> None:
    """Anonymous answers of the day rewritten together (#13, item 12)."""
    service.mix_anonymous(session)
