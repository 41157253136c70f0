"""/notices (SPEC §3.6): where I live (a settlement, or abroad with the
country), which topics I want, and the way out of each; the answers to a
public-debate notice ("I'll come", a question in advance)."""

from __future__ import annotations

from datetime import datetime

from babel import Locale
from sqlalchemy.orm import Session

from bot.engine.context import Context
from bot.engine.fsm import State, StatesGroup
from bot.engine.router import Router
from bot.i18n import Catalogs
from bot.messages import Button, Kind
from bot.models import Notice, NoticeStatus
from bot.profile import ABROAD, Profile
from bot.services import notices as service

router = Router("notices")
# Where most of Klokot's diaspora lives (seed §13); others type their country.
DIASPORA_COUNTRIES = ("DE", "AT", "CH", "SE", "IT", "FR", "US", "GB")


class NoticeFlow(StatesGroup):
    country = State()
    question = State()


def _country_name(code: str | None, locale: str) -> str:
    if not code:
        return "—"
    try:
        return str(Locale.parse(locale).territories.get(code, code))
    except (ValueError, TypeError):
        return code


def _where(ctx: Context) -> str:
    code = ctx.citizen.settlement
    if code == ABROAD:
        return f"{ctx.t('notices.abroad')} ({_country_name(ctx.citizen.country, ctx.locale)})"
    found = ctx.profile.settlement(code or "")
    return found.label(ctx.locale) if found else ctx.t("notices.where_unknown")


@router.command("notices")
@router.menu_item("notices", "menu.notices", order=50)
def notices(ctx: Context) -> None:
    ctx.clear()
    show_settings(ctx)


def show_settings(ctx: Context, intro: str | None = None, in_place: bool = False) -> None:
    """The settings; `in_place` redraws the message whose toggle was pressed."""
    mine = service.subscribed(ctx.session, ctx.citizen)
    rows = [[Button(("✅ " if topic.code in mine else "▫️ ") + topic.short_label(ctx.locale),
                    f"ntc:t:{topic.code}")] for topic in ctx.profile.notice_topics]
    rows.append([Button(ctx.t("notices.change_where"), "ntc:where")])
    accounts = [a for a in ctx.citizen.accounts if a.blocked_at is None]
    if len({a.channel for a in accounts}) > 1:
        rows.append([Button(ctx.t("notices.via", channel=a.channel.capitalize()),
                            f"ntc:via:{a.id}") for a in accounts])
    if mine:
        rows.append([Button(ctx.t("notices.stop_all"), "ntc:stop")])
    rows.append(ctx.menu_row())
    text = ctx.t("notices.settings", where=_where(ctx), count=len(mine))
    ctx.reply(f"{intro}\n\n{text}" if intro else text, rows, in_place=in_place)


def ask_where(ctx: Context) -> None:
    rows = [[Button(s.label(ctx.locale), f"ntc:set:{s.code}")] for s in ctx.profile.settlements]
    rows.append([Button(ctx.t("notices.abroad"), f"ntc:set:{ABROAD}")])
    ctx.reply(ctx.t("notices.ask_where"), [*rows, ctx.menu_row()])


@router.prompt(NoticeFlow.country)
def ask_country(ctx: Context) -> None:
    ctx.set_state(NoticeFlow.country)
    buttons = [Button(_country_name(code, ctx.locale), f"ncty:{code}")
               for code in DIASPORA_COUNTRIES]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    ctx.reply(ctx.t("notices.ask_country"), [*rows, ctx.nav_row(back=False)])


def _country_from_text(text: str, locale: str) -> str | None:
    """A two-letter code, or a country's name in the citizen's language or English."""
    wanted = " ".join(text.split()).casefold()
    if len(wanted) == 2 and wanted.isalpha():
        code = wanted.upper()
        return code if code in Locale.parse("en").territories else None
    for language in (locale, "en"):
        for code, name in Locale.parse(language).territories.items():
            if len(code) == 2 and code.isalpha() and str(name).casefold() == wanted:
                return str(code)
    return None


@router.state(NoticeFlow.country, accepts={Kind.text, Kind.button}, max_length=60)
def on_country(ctx: Context) -> None:
    code = (ctx.payload("ncty") if ctx.msg.kind is Kind.button
            else _country_from_text(ctx.msg.text or "", ctx.locale))
    if code not in DIASPORA_COUNTRIES and (ctx.msg.kind is Kind.button or code is None):
        ctx.again("notices.country_unknown")
        return
    ctx.citizen.settlement, ctx.citizen.country = ABROAD, code
    ctx.clear()
    show_settings(ctx, ctx.t("notices.saved"))


@router.action("ntc")
def on_notice_action(ctx: Context) -> None:
    action, _, argument = (ctx.payload("ntc") or "").partition(":")
    topics = {t.code for t in ctx.profile.notice_topics}
    if action == "t" and argument in topics:
        on = argument not in service.subscribed(ctx.session, ctx.citizen)
        service.subscribe(ctx.session, ctx.citizen, argument, on)
        if on and ctx.citizen.settlement is None:
            ctx.preface(ctx.t("notices.where_first"))
            ask_where(ctx)
            return
        show_settings(ctx, in_place=True)
    elif action == "off" and argument in topics:
        service.subscribe(ctx.session, ctx.citizen, argument, False)
        ctx.reply(ctx.t("notices.unsubscribed", topic=service.topic_label(
            ctx.profile, argument, ctx.locale)),
            [[Button(ctx.t("notices.undo"), f"ntc:t:{argument}")],
             [Button(ctx.t("notices.settings_button"), "ntc:show")]])
    elif action == "stop":
        service.unsubscribe_all(ctx.session, ctx.citizen)
        ctx.reply(ctx.t("notices.stopped"),
                  [[Button(ctx.t("notices.settings_button"), "ntc:show")], ctx.menu_row()])
    elif action == "where":
        ask_where(ctx)
    elif action == "set" and argument == ABROAD:
        ask_country(ctx)
    elif action == "set" and ctx.profile.settlement(argument) is not None:
        ctx.citizen.settlement, ctx.citizen.country = argument, None
        show_settings(ctx, ctx.t("notices.saved"))
    elif action == "via" and argument.isdigit() and any(
            a.id == int(argument) for a in ctx.citizen.accounts):
        ctx.citizen.notice_account_id = int(argument)
        show_settings(ctx, ctx.t("notices.saved"), in_place=True)
    elif action == "show":
        show_settings(ctx)
    else:  # an old button, or one typed on Viber that was never offered
        ctx.preface(ctx.t("error.stale_button"))
        show_settings(ctx)


# --- public debates: "I'll come", a question in advance -------------------------

def _notice(ctx: Context, argument: str) -> Notice | None:
    """The notice a button names, only if it was sent to this citizen."""
    if not argument.isdigit() or len(argument) > 18:
        return None
    return service.sent_to(ctx.session, int(argument), ctx.citizen)


@router.action("rsvp")
def on_rsvp(ctx: Context) -> None:
    action, _, argument = (ctx.payload("rsvp") or "").partition(":")
    notice = _notice(ctx, argument)
    if notice is None or not notice.rsvp or action not in {"yes", "ask"}:
        ctx.stale()
        return
    if notice.status is NoticeStatus.cancelled:
        ctx.reply(ctx.t("notices.rsvp_cancelled"), [ctx.menu_row()])
        return
    if action == "yes":
        counted = service.answer_coming(ctx.session, notice, ctx.citizen, ctx.now)
        ctx.reply(ctx.t("notices.rsvp_counted" if counted else "notices.rsvp_already"),
                  [[Button(ctx.t("notices.rsvp_ask"), f"rsvp:ask:{notice.id}")],
                   ctx.menu_row()])
        return
    ctx.clear()
    ctx.update_data(n_notice=notice.id)
    ask_question(ctx)


@router.prompt(NoticeFlow.question)
def ask_question(ctx: Context) -> None:
    ctx.set_state(NoticeFlow.question)
    ctx.reply(ctx.t("notices.ask_question", min=service.QUESTION_MIN, max=service.QUESTION_MAX),
              [ctx.nav_row(back=False)])


@router.state(NoticeFlow.question, accepts={Kind.text}, max_length=service.QUESTION_MAX)
def on_question(ctx: Context) -> None:
    text = ctx.meaningful_text(service.QUESTION_MIN)
    if text is None:
        ctx.again("notices.question_short", min=service.QUESTION_MIN)
        return
    notice = ctx.session.get(Notice, int(ctx.data.get("n_notice", 0)))
    ctx.clear()
    if notice is None or notice.status is NoticeStatus.cancelled:
        ctx.reply(ctx.t("notices.rsvp_cancelled"), [ctx.menu_row()])
        return
    service.add_question(ctx.session, notice, ctx.citizen, (ctx.msg.text or "").strip(),
                         ctx.now)
    ctx.reply(ctx.t("notices.question_saved"), [ctx.menu_row()])


@router.timer("notices", every_seconds=2)
def notices_timer(session: Session, profile: Profile, catalogs: Catalogs,
                  now: datetime) -> None:
    """Start what is due and queue the next batch of each running notice."""
    service.deliver(session, profile, catalogs, now)

