"""/link: one citizen across Telegram and Viber. `/link` gives a one-time
code, `/link CODE` sent from the other app joins the two, `/link off`
separates them again. Wrong codes are counted in the database
(`bot.services.code_attempts`), never in the conversation's data, which
/menu, /cancel or /start would clear."""

from __future__ import annotations

from bot.engine.context import Context
from bot.engine.router import Router
from bot.messages import Reply
from bot.models import Citizen
from bot.outbox.queue import enqueue
from bot.services import linking as service
from bot.services.code_attempts import LOCK

router = Router("linking")


def _apps(ctx: Context) -> str:
    return " + ".join(sorted({a.channel.capitalize() for a in ctx.citizen.accounts}))


@router.command("link")
def link(ctx: Context) -> None:
    argument = ctx.msg.args.strip().lower()
    if argument == "off":
        if service.unlink(ctx.session, ctx.account, ctx.now):
            ctx.reply(ctx.t("link.separated"), [ctx.menu_row()])
        else:
            ctx.reply(ctx.t("link.not_linked"), [ctx.menu_row()])
        return
    if argument:
        use_code(ctx, argument)
        return
    code = service.new_code(ctx.session, ctx.account, ctx.now)
    linked = len({a.channel for a in ctx.citizen.accounts}) > 1
    ctx.reply(ctx.t("link.code", code=code.code, minutes=service.CODE_MINUTES)
              + ("\n\n" + ctx.t("link.already_linked", apps=_apps(ctx)) if linked else ""),
              [ctx.menu_row()])


def use_code(ctx: Context, code: str) -> None:
    try:
        asking = service.use_code(ctx.session, ctx.profile, ctx.catalogs, ctx.account, code,
                                  ctx.now)
    except service.LinkRefused as refused:
        if refused.code == "too_many" and refused.until is not None:
            local = refused.until.astimezone(ctx.profile.tz)
            ctx.reply(ctx.t("link.too_many", minutes=int(LOCK.total_seconds() // 60),
                            time=f"{local:%H:%M}"), [ctx.menu_row()])
            return
        ctx.reply(ctx.t(f"link.refused.{refused.code}", minutes=service.CODE_MINUTES),
                  [ctx.menu_row()])
        return
    citizen = ctx.session.get(Citizen, asking.citizen_id)
    assert citizen is not None
    ctx.citizen = citizen  # the citizen this chat now belongs to
    apps = _apps(ctx)
    ctx.reply(ctx.t("link.done", apps=apps), [ctx.menu_row()])
    enqueue(ctx.session, asking, Reply(ctx.catalogs.gettext(
        citizen.language or ctx.profile.default_locale, "link.done", apps=apps)),
        profile=ctx.profile, now=ctx.now)
