"""Access to public documents by chat (SPEC §3.3, Law No. 06/L-081): what is
asked for, which department, in what form, whether life or liberty is at
stake, an optional name; confirm → a reference and the legal due date.
Every later change comes back through the outbox; /status shows the history
and lets the citizen withdraw."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.engine.context import Context
from bot.engine.fsm import State, StatesGroup
from bot.engine.router import Router, StatusLine
from bot.i18n import Catalogs, format_date, format_time
from bot.messages import Button, Kind, fit_label
from bot.models import DocumentForm, DocumentRequest, DocumentStatus
from bot.profile import Profile
from bot.services import deadlines
from bot.services import documents as service

router = Router("documents")
NAME_MAX = 100


class DocumentFlow(StatesGroup):
    description = State()
    department = State()
    form = State()
    urgency = State()
    name = State()
    confirm = State()


@router.command("documents")
@router.menu_item("documents", "menu.documents", order=20)
def documents(ctx: Context) -> None:
    ctx.clear()
    ctx.set_state(DocumentFlow.description)
    ctx.reply(ctx.t("documents.intro", min=service.DESCRIPTION_MIN,
                    max=service.DESCRIPTION_MAX,
                    **service.law_terms(ctx.profile, ctx.t, ctx.locale)),
              [ctx.nav_row(back=False)])


@router.prompt(DocumentFlow.description)
def ask_description(ctx: Context) -> None:
    ctx.set_state(DocumentFlow.description)
    ctx.reply(ctx.t("documents.ask_description", min=service.DESCRIPTION_MIN,
                    max=service.DESCRIPTION_MAX), [ctx.nav_row(back=False)])


@router.state(DocumentFlow.description, accepts={Kind.text},
              max_length=service.DESCRIPTION_MAX)
def on_description(ctx: Context) -> None:
    if ctx.meaningful_text(service.DESCRIPTION_MIN) is None:
        ctx.again("documents.description_short", min=service.DESCRIPTION_MIN)
        return
    # Kept as written (line breaks matter in a description of documents).
    ctx.update_data(d_description=(ctx.msg.text or "").strip())
    ask_department(ctx)


@router.prompt(DocumentFlow.department)
def ask_department(ctx: Context) -> None:
    ctx.set_state(DocumentFlow.department)
    rows = [[Button(d.short_label(ctx.locale), f"ddep:{d.code}")] for d in ctx.profile.departments]
    rows.append([Button(ctx.t("documents.department_unknown"), "ddep:unknown")])
    ctx.reply(ctx.t("documents.ask_department"), [*rows, ctx.nav_row()])


@router.state(DocumentFlow.department, accepts={Kind.button})
def on_department(ctx: Context) -> None:
    code = ctx.choice("ddep", ["unknown", *ctx.profile.department_codes()])
    if code is None:
        return
    ctx.update_data(d_department=None if code == "unknown" else code)
    ask_form(ctx)


@router.prompt(DocumentFlow.form)
def ask_form(ctx: Context) -> None:
    ctx.set_state(DocumentFlow.form)
    rows = [[Button(ctx.t(f"documents.form.{form.value}"), f"dform:{form.value}")]
            for form in DocumentForm]
    ctx.reply(ctx.t("documents.ask_form"), [*rows, ctx.nav_row()])


@router.state(DocumentFlow.form, accepts={Kind.button})
def on_form(ctx: Context) -> None:
    if form := ctx.choice("dform", {f.value for f in DocumentForm}):
        ctx.update_data(d_form=form)
        ask_urgency(ctx)


@router.prompt(DocumentFlow.urgency)
def ask_urgency(ctx: Context) -> None:
    ctx.set_state(DocumentFlow.urgency)
    ctx.reply(ctx.t("documents.ask_urgency"),
              [[Button(ctx.t("documents.urgent_yes"), "durg:yes"),
                Button(ctx.t("documents.urgent_no"), "durg:no")], ctx.nav_row()])


@router.state(DocumentFlow.urgency, accepts={Kind.button})
def on_urgency(ctx: Context) -> None:
    answer = ctx.choice("durg", {"yes", "no"})
    if answer is None:
        return
    ctx.update_data(d_urgent=answer == "yes")
    ask_name(ctx)


@router.prompt(DocumentFlow.name)
def ask_name(ctx: Context) -> None:
    ctx.set_state(DocumentFlow.name)
    rows = []
    if ctx.citizen.full_name:
        rows.append([Button(fit_label(ctx.t("reception.use_value", value=ctx.citizen.full_name)),
                            "dname:keep")])
    rows.append([Button(ctx.t("documents.skip"), "dname:skip")])
    ctx.reply(ctx.t("documents.ask_name"), [*rows, ctx.nav_row()])


@router.state(DocumentFlow.name, accepts={Kind.text, Kind.button}, max_length=NAME_MAX)
def on_name(ctx: Context) -> None:
    if ctx.msg.kind is Kind.button:
        choice = ctx.payload("dname")
        if choice == "keep" and ctx.citizen.full_name:
            name: str | None = ctx.citizen.full_name
        elif choice == "skip":
            name = None
        else:
            ctx.again()
            return
    else:
        name = " ".join((ctx.msg.text or "").split())
        if len(name) < 2 or not any(ch.isalpha() for ch in name):
            ctx.again("reception.name_invalid", min=2, max=NAME_MAX)
            return
    ctx.update_data(d_name=name)
    ask_confirm(ctx)


@router.prompt(DocumentFlow.confirm)
def ask_confirm(ctx: Context) -> None:
    ctx.set_state(DocumentFlow.confirm)
    data = ctx.data
    department = ctx.profile.department(data.get("d_department") or "")
    ctx.reply(
        ctx.t("documents.summary", description=data.get("d_description", ""),
              department=department.label(ctx.locale) if department
              else ctx.t("documents.department_unknown"),
              form=ctx.t(f"documents.form.{data.get('d_form', 'electronic')}"),
              urgent=ctx.t("documents.urgent_yes" if data.get("d_urgent")
                           else "documents.urgent_no"),
              name=data.get("d_name") or "—"),
        [[Button(ctx.t("reception.confirm"), "dconf:yes"),
          Button(ctx.t("reception.change"), "dconf:change")], ctx.nav_row()],
    )


@router.state(DocumentFlow.confirm, accepts={Kind.button})
def on_confirm(ctx: Context) -> None:
    answer = ctx.payload("dconf")
    if answer == "change":
        ask_description(ctx)
        return
    if answer != "yes":
        ctx.again()
        return
    data = ctx.data
    request = service.register(
        ctx.session, ctx.profile, citizen=ctx.citizen, account=ctx.account,
        description=data["d_description"], department=data.get("d_department"),
        form=DocumentForm(data["d_form"]), life_or_liberty=bool(data.get("d_urgent")),
        full_name=data.get("d_name"), now=ctx.now)
    if data.get("d_name"):
        ctx.citizen.full_name = data["d_name"]
    ctx.clear()
    ctx.reply(ctx.t("documents.registered_waits" if ctx.news_waits else "documents.registered",
                    reference=request.reference,
                    due=service.due_text(ctx.profile, request, ctx.locale)),
              [ctx.menu_row()])


# --- the citizen's requests: history and withdrawing ---------------------------

@router.action("doc")
def on_request_action(ctx: Context) -> None:
    action, _, reference = (ctx.payload("doc") or "").partition(":")
    request = ctx.own(DocumentRequest, reference)  # a typed or forged one finds nothing
    if request is None:
        ctx.reply(ctx.t("documents.no_such_request"), [ctx.menu_row()])
        return
    if action == "withdraw" and not request.decided:
        ctx.reply(ctx.t("documents.withdraw_confirm", reference=reference),
                  [[Button(ctx.t("documents.withdraw_yes"), f"doc:withdraw_yes:{reference}"),
                    Button(ctx.t("documents.withdraw_no"), f"doc:show:{reference}")]])
        return
    if action == "withdraw_yes" and not request.decided:
        ctx.clear()
        service.transition(ctx.session, ctx.profile, ctx.catalogs, request,
                           DocumentStatus.withdrawn, by="citizen", now=ctx.now)
        return  # the change message itself tells the citizen
    show_history(ctx, request)


def show_history(ctx: Context, request: DocumentRequest) -> None:
    lines = []
    for event in request.events:
        if event.internal or not event.status_to:
            continue
        local = event.at.astimezone(ctx.profile.tz)
        line = (f"{format_date(local, ctx.locale)} {format_time(local)} — "
                f"{ctx.t('documents.state.' + event.status_to)}")
        lines.append(f"{line}: {event.text}" if event.text else line)
    buttons = []
    if not request.decided:
        buttons.append([Button(ctx.t("documents.withdraw"), f"doc:withdraw:{request.reference}")])
    text = service.status_text(ctx.profile, ctx.t, ctx.locale, request,
                               history="\n".join(lines))
    appeal = appeal_route(ctx, request)
    ctx.reply(f"{text}\n\n{appeal}" if appeal else text, [*buttons, ctx.menu_row()])


def appeal_route(ctx: Context, request: DocumentRequest) -> str | None:
    """Where a refusal — partial, or silence past the deadline — can be
    challenged: the Information and Privacy Agency, within the law's days."""
    if request.status in (DocumentStatus.refused, DocumentStatus.partially_granted):
        return ctx.t("documents.appeal_route", appeal_days=deadlines.APPEAL_DAYS)
    if not request.decided and request.due_at < ctx.now:
        return ctx.t("documents.appeal_route_silence", appeal_days=deadlines.APPEAL_DAYS)
    return None


@router.status
def status_lines(ctx: Context) -> list[StatusLine]:
    requests = ctx.session.scalars(select(DocumentRequest).where(
        DocumentRequest.citizen_id == ctx.citizen.id).order_by(DocumentRequest.id.desc())
        .limit(10)).all()
    return [StatusLine(service.status_text(ctx.profile, ctx.t, ctx.locale, r),
                       f"doc:show:{r.reference}", r.reference,
                       ctx.t(f"documents.state.{r.status.value}")) for r in requests]


@router.timer("documents", every_seconds=300)
def documents_timer(session: Session, profile: Profile, catalogs: Catalogs,
                    now: datetime) -> None:
    """Tell citizens once when silence turned into refusal; the morning digest."""
    service.tell_overdue(session, profile, catalogs, now)
    service.morning_digest(session, profile, catalogs, now)
