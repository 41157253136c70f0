"""`/staff CODE` links an officer's own chat to their staff account (the code
comes from the staff pages, valid 10 minutes); `/staff off` unlinks it.
Wrong codes are limited per chat as for /link."""

from __future__ import annotations

from bot.engine.context import Context
from bot.engine.router import Router
from bot.services.code_attempts import LOCK
from bot.staff import accounts

router = Router("staff_link")


@router.command("staff")
def staff_command(ctx: Context) -> None:
    argument = ctx.msg.args.strip().lower()
    if argument in {"off", "unlink"}:
        linked = accounts.unlink_account(ctx.session, ctx.account)
        ctx.reply(ctx.t("staff_link.unlinked" if linked else "staff_link.not_linked"))
        return
    if not argument:
        ctx.reply(ctx.t("staff_link.usage"))
        return
    try:
        staff = accounts.link_chat(ctx.session, argument, ctx.account, ctx.now)
    except accounts.ChatLinkRefused as refused:
        if refused.code == "too_many" and refused.until is not None:
            local = refused.until.astimezone(ctx.profile.tz)
            ctx.reply(ctx.t("staff_link.too_many", minutes=int(LOCK.total_seconds() // 60),
                            time=f"{local:%H:%M}"))
        else:
            ctx.reply(ctx.t("staff_link.invalid"))
        return
    ctx.reply(ctx.t("staff_link.linked", username=staff.username))
