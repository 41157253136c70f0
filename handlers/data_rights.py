"""`/mydata` and `/forget` (SPEC §3.8, Law No. 06/L-082): the promise the
privacy notice makes. /mydata answers with a readable summary and a JSON file
of everything stored; /forget asks once, then erases the person and keeps
their submissions without anything that identifies them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.engine.context import Context
from bot.engine.fsm import State, StatesGroup
from bot.engine.router import Router
from bot.i18n import LANGUAGE_NAMES, Catalogs, format_date
from bot.messages import Button, Kind, Reply
from bot.outbox.queue import enqueue
from bot.profile import Profile
from bot.services import data_rights as service

router = Router("data_rights")
RETENTION_EVERY_SECONDS = 3600
EXPORT_KEEP_DAYS = 7


class ForgetFlow(StatesGroup):
    confirm = State()


def export_owner(citizen_id: int) -> str:
    """Where a citizen's /mydata files are kept together (erased together)."""
    return f"c{citizen_id}"


@router.command("mydata")
def mydata(ctx: Context) -> None:
    data = service.export(ctx.session, ctx.profile, ctx.citizen, ctx.now)
    counts = service.counts(data)
    ctx.files.delete_exports_older_than(ctx.now - timedelta(days=EXPORT_KEEP_DAYS))
    file = ctx.files.save_export(
        service.export_file(data), f"klokot-mydata-{ctx.now.date().isoformat()}.json",
        "application/json", now=ctx.now, owner=export_owner(ctx.citizen.id))
    summary = ctx.t("mydata.summary",
                    name=ctx.citizen.full_name or "—", phone=ctx.citizen.phone or "—",
                    language=LANGUAGE_NAMES.get(ctx.locale, ctx.locale),
                    apps=counts["accounts"],
                    bookings=counts["reception_bookings"] + counts["urgent_requests"],
                    documents=counts["document_requests"], complaints=counts["complaints"],
                    received=counts["messages_received"], sent=counts["messages_sent"],
                    days=ctx.profile.retention_days)
    for row in service.active_sms(data):  # registered at the counter or by a keyword
        since = datetime.fromisoformat(row["consented_at"]).astimezone(ctx.profile.tz)
        summary += "\n\n" + ctx.t("mydata.sms", number=row["number"],
                                   since=format_date(since, ctx.locale))
    ctx.reply(summary)
    ctx.reply(ctx.t("mydata.file_caption"), [ctx.menu_row()], file=file)


@router.command("forget")
def forget(ctx: Context) -> None:
    """Whatever the citizen was doing is dropped: this question comes first."""
    ctx.clear()
    ctx.set_state(ForgetFlow.confirm)
    ask_confirm(ctx)


@router.prompt(ForgetFlow.confirm)
def ask_confirm(ctx: Context) -> None:
    ctx.reply(ctx.t("forget.confirm"),
              [[Button(ctx.t("forget.yes"), "forget:yes")],
               [Button(ctx.t("forget.no"), "forget:no")]])


@router.state(ForgetFlow.confirm, accepts={Kind.button})
def on_confirm(ctx: Context) -> None:
    answer = ctx.payload("forget")
    if answer == "no":
        ctx.clear()
        ctx.reply(ctx.t("forget.kept"), [[Button(ctx.t("button.menu"), "nav:menu")]])
        return
    if answer != "yes":
        ctx.again()
        return
    # The goodbye is queued before the erasure, which skips every other
    # message still waiting for this citizen.
    goodbye = enqueue(ctx.session, ctx.account, Reply(ctx.t("forget.done")),
                      profile=ctx.profile, now=ctx.now)
    ctx.session.flush()
    service.erase(ctx.session, ctx.citizen, now=ctx.now, keep_outbox_id=goodbye.id)
    ctx.files.delete_exports_of(export_owner(ctx.citizen.id))  # their links now answer 410


@router.timer("data_rights", every_seconds=RETENTION_EVERY_SECONDS)
def retention_timer(session: Session, profile: Profile, catalogs: Catalogs,
                    now: datetime) -> None:
    """Hourly: finish erasures and apply the retention periods."""
    service.finish_erasures(session, now)
    service.apply_retention(session, profile, now)
