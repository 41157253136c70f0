"""`/staff CODE` links an officer's own chat to their staff account (the code
comes from the staff pages, valid 10 minutes); `/staff off` unlinks it."""

from __future__ import annotations

from bot.engine.context import Context
from bot.engine.router import Router
from bot.staff import accounts

router = Router("staff_link")


@router.command("staff")
def staff_command(ctx: Context) -> None:
    argument = ctx.msg.args.strip().lower()
    if argument in {"off", "unlink"}:
        linked = accounts.unlink_account(ctx.session, ctx.account)
        ctx.reply(ctx.t("staff_link.unlinked" if linked else "staff_link.not_linked"))
        return
    code = "".join(ch for ch in argument if ch.isdigit())
    if not code:
        ctx.reply(ctx.t("staff_link.usage"))
        return
    staff = accounts.link_chat(ctx.session, code, ctx.account, ctx.now)
    if staff is None:
        ctx.reply(ctx.t("staff_link.invalid"))
        return
    ctx.reply(ctx.t("staff_link.linked", username=staff.username))
