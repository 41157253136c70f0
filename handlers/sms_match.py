"""A chat citizen whose phone number is registered for SMS at the counter
(issue #19): after they share the number (the reception's contact step, or
typed), they are asked whether that registration is theirs; on yes the two
become one citizen and they choose where notices go; on no nothing changes.
Other flows call `offer` once the number is theirs."""

from __future__ import annotations

from bot.engine.context import Context
from bot.engine.fsm import State, StatesGroup
from bot.engine.router import Router
from bot.messages import Button, Kind
from bot.models import ChannelAccount
from bot.services import sms_match as service

router = Router("sms_match")


class SmsMatch(StatesGroup):
    confirm = State()
    where = State()


def offer(ctx: Context, phone: str | None) -> bool:
    """Ask about the number's SMS registration, if it has one of another
    citizen; True when the question was asked."""
    account = service.registration_for(ctx.session, ctx.citizen, phone)
    if account is None:
        return False
    ctx.clear()
    ctx.update_data(sm_account=account.id)
    ask_confirm(ctx)
    return True


@router.prompt(SmsMatch.confirm)
def ask_confirm(ctx: Context) -> None:
    ctx.set_state(SmsMatch.confirm)
    ctx.reply(ctx.t("sms.match_question"),
              [[Button(ctx.t("sms.match_yes"), "smsm:yes"),
                Button(ctx.t("sms.match_no"), "smsm:no")]])


@router.state(SmsMatch.confirm, accepts={Kind.button})
def on_confirm(ctx: Context) -> None:
    answer = ctx.choice("smsm", ("yes", "no"))
    if answer is None:
        return
    account = service.registration_for(ctx.session, ctx.citizen, _phone(ctx))
    if answer == "no" or account is None:
        ctx.clear()
        ctx.reply(ctx.t("sms.match_kept_apart"), [ctx.menu_row()])
        return
    service.join(ctx.session, ctx.citizen, account)
    ctx.update_data(sm_joined=account.id)
    ask_where(ctx)


def _phone(ctx: Context) -> str | None:
    """The number of the registration asked about (from its account)."""
    account = ctx.session.get(ChannelAccount, ctx.data.get("sm_account") or 0)
    return account.external_id if account is not None else None


@router.prompt(SmsMatch.where)
def ask_where(ctx: Context) -> None:
    ctx.set_state(SmsMatch.where)
    ctx.reply(ctx.t("sms.match_where"),
              [[Button(ctx.t("sms.match_by_sms"), "smsw:sms"),
                Button(ctx.t("sms.match_by_chat"), "smsw:chat")]])


@router.state(SmsMatch.where, accepts={Kind.button})
def on_where(ctx: Context) -> None:
    answer = ctx.choice("smsw", ("sms", "chat"))
    if answer is None:
        return
    joined = int(ctx.data.get("sm_joined") or 0)
    service.choose(ctx.session, ctx.citizen, joined, ctx.account, by_sms=answer == "sms")
    ctx.clear()
    ctx.reply(ctx.t("sms.match_done_sms" if answer == "sms" else "sms.match_done_chat"),
              [ctx.menu_row()])
