"""`/staff CODE` links an officer's own chat to their staff account (the code
comes from the staff pages, valid 10 minutes); `/staff off` unlinks it."""

from __future__ import annotations

from sqlalchemy import select

from bot.admin import audit
from bot.admin.security import token_hash
from bot.engine.context import Context
from bot.engine.router import Router
from bot.models.staff import StaffUser

router = Router("staff_link")


@router.command("staff")
def staff_command(ctx: Context) -> None:
    argument = ctx.msg.args.strip().lower()
    if argument in {"off", "unlink"}:
        linked = ctx.session.scalars(
            select(StaffUser).where(StaffUser.chat_account_id == ctx.account.id)).all()
        for officer in linked:
            officer.chat_account_id = None
            audit.record(ctx.session, officer, "account.chat_unlink", object_type="staff",
                         object_id=officer.username, detail="from the chat")
        ctx.reply(ctx.t("staff_link.unlinked" if linked else "staff_link.not_linked"))
        return
    code = "".join(ch for ch in argument if ch.isdigit())
    if not code:
        ctx.reply(ctx.t("staff_link.usage"))
        return
    staff = ctx.session.scalar(select(StaffUser).where(
        StaffUser.link_code_hash == token_hash(code),
        StaffUser.link_code_expires_at > ctx.now,
        StaffUser.disabled_at.is_(None),
    ))
    if staff is None:
        ctx.reply(ctx.t("staff_link.invalid"))
        return
    staff.chat_account_id = ctx.account.id
    staff.link_code_hash = staff.link_code_expires_at = None  # one time only
    audit.record(ctx.session, staff, "account.chat_link", object_type="staff",
                 object_id=staff.username,
                 after={"channel": ctx.account.channel, "chat_account_id": ctx.account.id})
    ctx.reply(ctx.t("staff_link.linked", username=staff.username))
