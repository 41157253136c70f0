"""First contact and the always-there commands: welcome, language, privacy
notice, main menu, help, cancel, status, and the back / cancel buttons."""

from __future__ import annotations

import re

from bot.engine.context import Context
from bot.engine.dispatcher import RESUME_KEY
from bot.engine.fsm import State, StatesGroup, group_of
from bot.engine.router import Router, StatusLine
from bot.i18n import LANGUAGE_NAMES
from bot.messages import Button, Kind, fit_label

router = Router("start")


class Onboarding(StatesGroup):
    language = State()
    privacy = State()


def _language_buttons(ctx: Context) -> list[list[Button]]:
    locales = list(ctx.profile.enabled_locales)
    suggested = ctx.suggested_locale
    if suggested in locales:  # pre-selected: offered first
        locales.remove(suggested)
        locales.insert(0, suggested)
    buttons = [Button(LANGUAGE_NAMES[loc], f"lang:{loc}") for loc in locales]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def show_menu(ctx: Context, intro_key: str = "menu.title") -> None:
    """The main menu: every capability of SPEC §3, two buttons a row."""
    buttons = [Button(ctx.t(entry.label_key), f"menu:{entry.code}") for entry in ctx.routes.menu]
    ctx.reply(ctx.t(intro_key), [buttons[i : i + 2] for i in range(0, len(buttons), 2)])


@router.command("start")
def start(ctx: Context) -> None:
    """Welcome a newcomer with the language choice; greet a known citizen with the menu."""
    if ctx.msg.kind is Kind.started and in_flow(ctx):
        offer_resume(ctx)
        return
    ctx.clear()
    citizen = ctx.citizen
    if citizen.language and citizen.privacy_acknowledged_at:
        show_menu(ctx, "menu.welcome_back")
        return
    ask_language(ctx, welcome=True)


def in_flow(ctx: Context) -> bool:
    """In the middle of something that can be asked again (not the welcome)."""
    state = ctx.state
    return (state is not None and not state.startswith("Onboarding:")
            and state in ctx.routes.prompts and ctx.citizen.language is not None)


def offer_resume(ctx: Context) -> None:
    """The chat was opened again (Viber) in the middle of a flow: what was
    started is kept. "Continue" is the default — anything else the step
    cannot take asks its question again (the engine, `RESUME_KEY`)."""
    ctx.update_data(**{RESUME_KEY: True})
    ctx.reply(ctx.t("resume.offer"),
              [[Button(ctx.t("resume.continue"), "resume:go")],
               [Button(ctx.t("resume.start_over"), "resume:over")]])


@router.action("resume")
def on_resume(ctx: Context) -> None:
    """Continue: the step's question again. Start over: the draft goes, the
    menu comes. Typed or pressed late (no flow any more): the menu."""
    choice = ctx.payload("resume")
    ctx.conversation.data = {k: v for k, v in ctx.data.items() if k != RESUME_KEY}
    if choice == "over" and in_flow(ctx):
        ctx.clear()
        show_menu(ctx, "resume.started_over")
        return
    if not (in_flow(ctx) and ctx.prompt_again()):
        menu(ctx)


@router.prompt(Onboarding.language)
def _prompt_language(ctx: Context) -> None:
    ask_language(ctx, welcome=False)


def ask_language(ctx: Context, welcome: bool) -> None:
    suggested = ctx.citizen.language or ctx.suggested_locale
    # Nothing known: greet in every language, each in its own words.
    locales = [suggested] if suggested else list(ctx.profile.enabled_locales)
    lines = []
    for loc in locales:
        name = ctx.profile.municipality_name(loc)
        if welcome:
            lines.append(ctx.catalogs.gettext(loc, "start.welcome", municipality=name))
        lines.append(ctx.catalogs.gettext(loc, "start.choose_language"))
    ctx.set_state(Onboarding.language)
    ctx.reply("\n\n".join(lines) if suggested else "\n".join(lines), _language_buttons(ctx))


@router.command("language")
def change_language(ctx: Context) -> None:
    ctx.clear()
    ask_language(ctx, welcome=False)


@router.action("lang")
def choose_language(ctx: Context) -> None:
    locale = ctx.payload("lang")
    if locale not in ctx.profile.enabled_locales:
        ctx.preface(ctx.t("error.stale_button"))
        ask_language(ctx, welcome=False)
        return
    ctx.citizen.language = locale
    if ctx.citizen.privacy_acknowledged_at is None:
        show_privacy(ctx)
        return
    ctx.clear()
    show_menu(ctx, "start.language_set")


@router.state(Onboarding.language, accepts={Kind.button})
def language_expected(ctx: Context) -> None:
    ctx.preface(ctx.t("error.expected_button"))
    ask_language(ctx, welcome=False)


@router.prompt(Onboarding.privacy)
def show_privacy(ctx: Context) -> None:
    ctx.set_state(Onboarding.privacy)
    ctx.reply(
        ctx.t(
            "privacy.notice",
            municipality=ctx.profile.municipality_name(ctx.locale),
            days=ctx.profile.retention_days,
        ),
        [[Button(ctx.t("privacy.continue"), "privacy:ok")]],
    )


@router.action("privacy")
def acknowledge_privacy(ctx: Context) -> None:
    if ctx.citizen.privacy_acknowledged_at is None:
        if ctx.state != Onboarding.privacy.name:  # typed, never shown: not read
            ctx.preface(ctx.t("error.stale_button"))
            if not ctx.prompt_again():
                start(ctx)
            return
        ctx.citizen.privacy_acknowledged_at = ctx.now
    ctx.clear()
    show_menu(ctx)


@router.state(Onboarding.privacy, accepts={Kind.button})
def privacy_expected(ctx: Context) -> None:
    ctx.preface(ctx.t("error.expected_button"))
    show_privacy(ctx)


@router.command("menu")
def menu(ctx: Context) -> None:
    ctx.clear()
    show_menu(ctx)


@router.action("menu")
def menu_button(ctx: Context) -> None:
    code = ctx.payload("menu")
    entry = next((e for e in ctx.routes.menu if e.code == code), None)
    if entry is None:
        ctx.preface(ctx.t("error.stale_button"))
        show_menu(ctx)
        return
    ctx.clear()
    entry.handler(ctx)


@router.command("help")
@router.menu_item("help", "menu.help", order=80)
def help_(ctx: Context) -> None:
    profile, loc = ctx.profile, ctx.locale
    offices = []
    for code in ("mayor_office", "info_office"):
        department = profile.department(code)
        if department and department.extra.get("phone"):
            offices.append(f"• {department.label(loc)}: {department.extra['phone']}")
    text = ctx.t(
        "help.text",
        municipality=profile.municipality_name(loc),
        address=profile.localized_contact("address", loc),
        hours=profile.localized_contact("hours", loc),
        phone=profile.localized_contact("phone", loc),
        email=profile.localized_contact("email", loc),
        website=profile.localized_contact("website", loc),
        offices="\n".join(offices),
    )
    # Every command the bot knows, also those the text above leaves out.
    missing = [ctx.t(f"help.command.{name}") for name in public_commands(ctx)
               if not re.search(rf"/{name}\b", text)]
    ctx.reply("\n".join([text, *missing]), [[Button(ctx.t("button.menu"), "nav:menu")]])


def public_commands(ctx: Context) -> list[str]:
    """The commands a citizen can type (not the engine's inner ones)."""
    return [name for name in ctx.routes.commands if not name.startswith("__")]


@router.menu_item("language", "menu.language", order=90)
def language_menu(ctx: Context) -> None:
    change_language(ctx)


@router.command("cancel")
def cancel(ctx: Context) -> None:
    """Leave the current flow from any step; nothing half-done is kept."""
    was_in_flow = ctx.state is not None and not ctx.state.startswith("Onboarding:")
    ctx.clear()
    if ctx.citizen.language is None or ctx.citizen.privacy_acknowledged_at is None:
        start(ctx)
        return
    show_menu(ctx, "cancel.done" if was_in_flow else "cancel.nothing")


@router.command("status")
@router.menu_item("status", "menu.status", order=70)
def status(ctx: Context) -> None:
    """The citizen's own items, from every capability that registered a provider."""
    ctx.clear()
    lines = [line for provider in ctx.routes.status_providers for line in provider(ctx)]
    if not lines:
        ctx.reply(ctx.t("status.empty"), [[Button(ctx.t("button.menu"), "nav:menu")]])
        return
    text = "\n".join([ctx.tn("status.count", len(lines)), "", *(line.text for line in lines)])
    buttons = [[Button(status_label(line), line.payload)] for line in lines if line.payload]
    ctx.reply(text, [*buttons, [Button(ctx.t("button.menu"), "nav:menu")]])


STATUS_LABEL_MAX = 30  # fits one Viber keyboard row on a phone


def status_label(line: StatusLine) -> str:
    """The reference and a word or two of what it is, within 30 characters."""
    label = line.label or line.text
    if line.brief:
        label = f"{label} · {line.brief}"
    return fit_label(label, STATUS_LABEL_MAX)


@router.action("nav")
def navigate(ctx: Context) -> None:
    """The back, cancel and menu buttons that every step offers."""
    where = ctx.payload("nav")
    if where == "cancel":
        cancel(ctx)
    elif where == "back":
        go_back(ctx)
    else:
        menu(ctx)


def go_back(ctx: Context) -> None:
    """One step back in the current flow: to the previous state's question."""
    group = group_of(ctx.state) if ctx.state else None
    if group is None:
        menu(ctx)
        return
    states = group.__states__
    index = [s.name for s in states].index(ctx.state or "")
    if index == 0:
        cancel(ctx)
        return
    ctx.set_state(states[index - 1])
    if not ctx.prompt_again():
        menu(ctx)


@router.command("__idle__")
def idle(ctx: Context) -> None:
    """Something arrived outside any flow: a photo starts a complaint with
    it (when the complaints flow is there); else say so kindly and show the menu."""
    photo = ctx.routes.commands.get("__photo__")
    if (photo is not None and ctx.msg.kind in (Kind.photo, Kind.file)
            and ctx.citizen.privacy_acknowledged_at is not None):
        photo(ctx)
        if ctx.replies:
            return
    show_menu(ctx, "idle.not_understood")


@router.command("__unknown_command__")
def unknown_command(ctx: Context) -> None:
    ctx.preface(ctx.t("command.unknown", command=f"/{ctx.msg.command}"))
    show_menu(ctx)
