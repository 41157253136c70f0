"""Complaints, suggestions and praise by chat (SPEC §3.4): kind, category,
settlement, description, up to five photos, an optional location, anonymity;
confirm → a reference C-YYYY-NNNN. Staff answers and state changes come back
through the outbox; /status shows the history; four weeks after `resolved`
the citizen is asked whether it really is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.engine.context import Context
from bot.engine.fsm import State, StatesGroup
from bot.engine.router import Router, StatusLine
from bot.i18n import Catalogs, format_date
from bot.messages import Button, Kind
from bot.models import Complaint, ComplaintKind
from bot.profile import ABROAD, Profile
from bot.services import complaints as service
from bot.services import voice
from bot.services.photos import MAX_BYTES as PHOTO_MAX_BYTES

router = Router("complaints")
SUMMARY_DESCRIPTION = 300  # the confirm step shows the start of a long text
# A photo is taken at every step: before the photo step it is kept for it
# (its caption as the description), after it added while there is room.
WITH_PHOTOS = frozenset({Kind.photo, Kind.file})


class ComplaintFlow(StatesGroup):
    kind = State()
    category = State()
    settlement = State()
    description = State()
    photos = State()
    location = State()
    anonymity = State()
    confirm = State()


def _ask_one_of(ctx: Context, state: State, question: str, rows: list[list[Button]]) -> None:
    """A question answered with one of these buttons, with a way back and out."""
    ctx.set_state(state)
    ctx.reply(ctx.t(question), [*rows, ctx.nav_row()])


@router.command("complaint")
@router.menu_item("complaint", "menu.complaint", order=30)
def complaint(ctx: Context) -> None:
    ctx.clear()
    ask_kind(ctx)


@router.prompt(ComplaintFlow.kind)
def ask_kind(ctx: Context) -> None:
    ctx.set_state(ComplaintFlow.kind)
    rows = [[Button(ctx.t(f"complaints.kind.{kind.value}"), f"ckind:{kind.value}")]
            for kind in ComplaintKind]
    ctx.reply(ctx.t("complaints.ask_kind"), [*rows, ctx.nav_row(back=False)])


@router.state(ComplaintFlow.kind, accepts={Kind.button, *WITH_PHOTOS}, expects=Kind.button)
def on_kind(ctx: Context) -> None:
    if ctx.msg.kind in WITH_PHOTOS:
        photo_mid_flow(ctx)
    elif kind := ctx.choice("ckind", {k.value for k in ComplaintKind}):
        ctx.update_data(c_kind=kind)
        ask_category(ctx)


@router.prompt(ComplaintFlow.category)
def ask_category(ctx: Context) -> None:
    _ask_one_of(ctx, ComplaintFlow.category, "complaints.ask_category",
                [[Button(c.short_label(ctx.locale), f"ccat:{c.code}")]
                 for c in ctx.profile.complaint_categories])


@router.state(ComplaintFlow.category, accepts={Kind.button, *WITH_PHOTOS}, expects=Kind.button)
def on_category(ctx: Context) -> None:
    if ctx.msg.kind in WITH_PHOTOS:
        photo_mid_flow(ctx)
    elif code := ctx.choice("ccat", ctx.profile.category_codes()):
        ctx.update_data(c_category=code)
        ask_settlement(ctx)


@router.prompt(ComplaintFlow.settlement)
def ask_settlement(ctx: Context) -> None:
    rows = [[Button(s.label(ctx.locale), f"cset:{s.code}")] for s in ctx.profile.settlements]
    rows.append([Button(ctx.t("complaints.abroad"), f"cset:{ABROAD}")])
    _ask_one_of(ctx, ComplaintFlow.settlement, "complaints.ask_settlement", rows)


@router.state(ComplaintFlow.settlement, accepts={Kind.button, *WITH_PHOTOS}, expects=Kind.button)
def on_settlement(ctx: Context) -> None:
    if ctx.msg.kind in WITH_PHOTOS:
        photo_mid_flow(ctx)
    elif code := ctx.choice("cset", ctx.profile.settlement_codes()):
        ctx.update_data(c_settlement=code)
        if ctx.data.get("c_caption"):  # described by a photo's caption already
            ctx.update_data(c_caption=None)
            ask_photos(ctx)
            return
        ask_description(ctx)


@router.prompt(ComplaintFlow.description)
def ask_description(ctx: Context) -> None:
    ctx.set_state(ComplaintFlow.description)
    ctx.reply(ctx.t(f"complaints.ask_description.{ctx.data.get('c_kind', 'complaint')}",
                    min=service.DESCRIPTION_MIN, max=service.DESCRIPTION_MAX),
              [ctx.nav_row()])


@router.state(ComplaintFlow.description, accepts={Kind.text, Kind.voice, *WITH_PHOTOS},
              max_length=service.DESCRIPTION_MAX)
def on_description(ctx: Context) -> None:
    if ctx.msg.kind in WITH_PHOTOS:
        photo_at_description(ctx)
        return
    if ctx.msg.kind is Kind.voice:
        voice_at_description(ctx)
        return
    if ctx.meaningful_text(service.DESCRIPTION_MIN) is None:
        ctx.again("complaints.description_short", min=service.DESCRIPTION_MIN)
        return
    # Photos sent before the description stay; a recording sent before is replaced.
    ctx.update_data(c_description=(ctx.msg.text or "").strip(), c_caption=None,
                    c_photos=ctx.data.get("c_photos", []), c_voice=None)
    ask_photos(ctx)


def voice_at_description(ctx: Context) -> None:
    """A recording instead of a typed description: over the limits it is
    refused (the citizen can type instead); else it is the description
    ("(voice message)", after its caption) and the photo step comes."""
    media = ctx.msg.media[0] if ctx.msg.media else None
    if media is None:
        ctx.again("voice.refused.not_audio")
        return
    if reason := voice.problem(media):
        ctx.preface(voice.refusal(ctx.t, reason))
        ctx.prompt_again()
        ctx.flush_preface()
        return
    caption = (ctx.msg.text or "").strip()[:service.DESCRIPTION_MAX // 2]
    ctx.update_data(c_voice={**voice.to_data(ctx.msg.channel, media), "caption": caption},
                    c_description=voice.text_with_marker(ctx.profile, ctx.catalogs, caption),
                    c_caption=None, c_photos=ctx.data.get("c_photos", []))
    _ask_with_note(ctx, voice.received_note(ctx.t, media), ask_photos)


@router.prompt(ComplaintFlow.photos)
def ask_photos(ctx: Context) -> None:
    ctx.set_state(ComplaintFlow.photos)
    count = len(ctx.data.get("c_photos", []))
    if count:
        text = ctx.t("complaints.photo_received", count=count, max=service.PHOTOS_MAX)
        done = Button(ctx.t("complaints.photos_done"), "cph:done")
    else:
        text = ctx.t("complaints.ask_photos", max=service.PHOTOS_MAX,
                     max_mb=PHOTO_MAX_BYTES // (1024 * 1024))
        done = Button(ctx.t("complaints.photos_none"), "cph:done")
    ctx.reply(text, [[done], ctx.nav_row()])


@router.state(ComplaintFlow.photos, accepts={Kind.photo, Kind.file, Kind.button})
def on_photo(ctx: Context) -> None:
    if ctx.msg.kind is Kind.button:
        if ctx.payload("cph") != "done":
            ctx.again()
            return
        ask_location(ctx)
        return
    if problem := photo_problem(ctx):
        ctx.again(problem[0], **problem[1])
        return
    if len(ctx.data.get("c_photos", [])) >= service.PHOTOS_MAX:  # typed "back", then a 6th
        _ask_with_note(ctx, ctx.t("complaints.photo_over_max", max=service.PHOTOS_MAX),
                       ask_location)
        return
    keep_photo(ctx)
    caption = keep_caption(ctx)
    if len(ctx.data["c_photos"]) >= service.PHOTOS_MAX:
        ctx.preface(ctx.t("complaints.photos_full", max=service.PHOTOS_MAX))
        ask_location(ctx)
        return
    _ask_with_note(ctx, ctx.t("complaints.caption_added") if caption else "", ask_photos)


# --- photos sent at another step, or outside a flow ------------------------------

def photo_problem(ctx: Context) -> tuple[str, dict[str, object]] | None:
    """Why this photo (or file) cannot be attached, as a text key and its
    parameters; None when it can."""
    media = ctx.msg.media[0] if ctx.msg.media else None
    if media is None or (ctx.msg.kind is Kind.file
                         and not (media.mime_type or "").startswith("image/")):
        return "complaints.photo_not_image", {}
    if media.size is not None and media.size > PHOTO_MAX_BYTES:
        return "complaints.photo_too_big", {"max_mb": PHOTO_MAX_BYTES // (1024 * 1024)}
    return None


def keep_photo(ctx: Context) -> str:
    """Attach the photo while there is room; what to tell the citizen: that
    it was kept (how many now), or that the most were there already and this
    one was not kept."""
    photos = list(ctx.data.get("c_photos", []))
    if len(photos) >= service.PHOTOS_MAX:
        return ctx.t("complaints.photo_over_max", max=service.PHOTOS_MAX)
    media = ctx.msg.media[0]
    photos.append({"channel": ctx.msg.channel, "file_id": media.file_id, "url": media.url})
    ctx.update_data(c_photos=photos)
    return ctx.t("complaints.photo_kept", count=len(photos), max=service.PHOTOS_MAX)


def keep_caption(ctx: Context) -> bool:
    """A photo's caption with words becomes the description, or is added to
    it; True when it was taken."""
    if ctx.meaningful_text(service.DESCRIPTION_MIN) is None:
        return False
    caption = (ctx.msg.text or "").strip()
    before = ctx.data.get("c_description") or ""
    if caption in before:
        return False
    combined = f"{before}\n{caption}" if before else caption
    if len(combined) > service.DESCRIPTION_MAX:
        return False
    ctx.update_data(c_description=combined)
    return True


def _ask_with_note(ctx: Context, note: str, ask: Callable[[Context], None]) -> None:
    """Ask with `note` said first, in the same message as the question and
    its keyboard."""
    first = len(ctx.replies)
    ask(ctx)
    if note and len(ctx.replies) > first:
        ctx.replies[first].text = f"{note}\n\n{ctx.replies[first].text}"
    elif note:
        ctx.reply(note)


def photo_mid_flow(ctx: Context) -> None:
    """A photo at a step that asks something else: kept (its caption as the
    description, if there is none yet), and the step's question again."""
    if problem := photo_problem(ctx):
        ctx.again(problem[0], **problem[1])
        return
    had_description = bool(ctx.data.get("c_description"))
    notes = [keep_photo(ctx)]
    if keep_caption(ctx):
        notes.append(ctx.t("complaints.caption_added" if had_description
                           else "complaints.caption_is_description"))
        if not had_description and ctx.state in (ComplaintFlow.kind.name,
                                                 ComplaintFlow.category.name,
                                                 ComplaintFlow.settlement.name):
            ctx.update_data(c_caption=True)
    _ask_with_note(ctx, " ".join(notes), _prompt_again)


def _prompt_again(ctx: Context) -> None:
    ctx.prompt_again()


def photo_at_description(ctx: Context) -> None:
    """A photo where the description is asked: kept; with a caption that
    describes, the caption is the description and the photo step comes."""
    if problem := photo_problem(ctx):
        ctx.again(problem[0], **problem[1])
        return
    note = keep_photo(ctx)
    if ctx.meaningful_text(service.DESCRIPTION_MIN) is not None:
        # this step's answer replaces an earlier one
        ctx.update_data(c_description=None, c_voice=None)
        if keep_caption(ctx):
            ctx.update_data(c_caption=None)
            _ask_with_note(ctx, ctx.t("complaints.caption_is_description"), ask_photos)
            return
    _ask_with_note(ctx, note, ask_description)


@router.command("__photo__")
def photo_outside_flow(ctx: Context) -> None:
    """A photo sent outside any flow starts a complaint with it (its caption
    as the description). What cannot be attached gets no answer here: the
    idle handler that asked answers it."""
    if ctx.msg.kind not in WITH_PHOTOS:  # typed as a command
        ctx.routes.commands["__unknown_command__"](ctx)
        return
    if photo_problem(ctx) is not None:
        return
    ctx.clear()
    ctx.set_state(ComplaintFlow.kind)
    photo_mid_flow(ctx)


@router.prompt(ComplaintFlow.location)
def ask_location(ctx: Context) -> None:
    ctx.set_state(ComplaintFlow.location)
    ctx.reply(ctx.t("complaints.ask_location", min=service.ADDRESS_MIN,
                    max=service.ADDRESS_MAX),
              [[Button(ctx.t("complaints.location_skip"), "cloc:skip")], ctx.nav_row()],
              request="location", request_label=ctx.t("complaints.share_location"))


@router.state(ComplaintFlow.location,
              accepts={Kind.location, Kind.text, Kind.button, *WITH_PHOTOS},
              max_length=service.ADDRESS_MAX)
def on_location(ctx: Context) -> None:
    if ctx.msg.kind in WITH_PHOTOS:
        photo_mid_flow(ctx)
        return
    if ctx.msg.kind is Kind.button:
        if ctx.payload("cloc") != "skip":
            ctx.again()
            return
        ctx.update_data(c_latitude=None, c_longitude=None, c_address=None)
    elif ctx.msg.kind is Kind.location and ctx.msg.location is not None:
        where = ctx.msg.location
        if not service.valid_location(where.latitude, where.longitude):
            ctx.again("complaints.location_invalid")
            return
        ctx.update_data(c_latitude=where.latitude, c_longitude=where.longitude,
                        c_address=(where.address or "")[:service.ADDRESS_MAX] or None)
    else:
        address = ctx.meaningful_text(service.ADDRESS_MIN)
        if address is None:
            ctx.again("complaints.address_short", min=service.ADDRESS_MIN)
            return
        ctx.update_data(c_latitude=None, c_longitude=None, c_address=address)
    ask_anonymity(ctx)


@router.prompt(ComplaintFlow.anonymity)
def ask_anonymity(ctx: Context) -> None:
    ctx.set_state(ComplaintFlow.anonymity)
    ctx.reply(ctx.t("complaints.ask_anonymity"),
              [[Button(ctx.t("complaints.anonymous_no"), "canon:no")],
               [Button(ctx.t("complaints.anonymous_yes"), "canon:yes")], ctx.nav_row()])


@router.state(ComplaintFlow.anonymity, accepts={Kind.button, *WITH_PHOTOS}, expects=Kind.button)
def on_anonymity(ctx: Context) -> None:
    if ctx.msg.kind in WITH_PHOTOS:
        photo_mid_flow(ctx)
        return
    answer = ctx.choice("canon", {"yes", "no"})
    if answer is None:
        return
    ctx.update_data(c_anonymous=answer == "yes")
    ask_confirm(ctx)


def _where(ctx: Context) -> str:
    data = ctx.data
    if data.get("c_latitude") is not None:
        point = f"{data['c_latitude']:.5f}, {data['c_longitude']:.5f}"
        return f"{data['c_address']} ({point})" if data.get("c_address") else point
    return data.get("c_address") or ctx.t("complaints.location_none")


def _settlement_label(ctx: Context, code: str | None) -> str:
    if code == ABROAD:
        return ctx.t("complaints.abroad")
    found = ctx.profile.settlement(code or "")
    return found.label(ctx.locale) if found else "—"


@router.prompt(ComplaintFlow.confirm)
def ask_confirm(ctx: Context) -> None:
    ctx.set_state(ComplaintFlow.confirm)
    data = ctx.data
    found = service.category(ctx.profile, data.get("c_category", ""))
    description = data.get("c_description", "")
    if data.get("c_voice"):  # what they said, named in their own language
        description = voice.shown_text(ctx.t, data["c_voice"].get("caption"))
    if len(description) > SUMMARY_DESCRIPTION:
        description = description[:SUMMARY_DESCRIPTION].rstrip() + "…"
    ctx.reply(
        ctx.t("complaints.summary",
              kind=ctx.t(f"complaints.kind.{data.get('c_kind', 'complaint')}"),
              category=found.label(ctx.locale) if found else "—",
              settlement=_settlement_label(ctx, data.get("c_settlement")),
              description=description, photos=len(data.get("c_photos", [])),
              location=_where(ctx),
              anonymous=ctx.t("complaints.anonymous_yes" if data.get("c_anonymous")
                              else "complaints.anonymous_no")),
        [[Button(ctx.t("complaints.send"), "cconf:yes"),
          Button(ctx.t("reception.change"), "cconf:change")], ctx.nav_row()],
    )


@router.state(ComplaintFlow.confirm, accepts={Kind.button, *WITH_PHOTOS}, expects=Kind.button)
def on_confirm(ctx: Context) -> None:
    if ctx.msg.kind in WITH_PHOTOS:
        photo_mid_flow(ctx)
        return
    answer = ctx.payload("cconf")
    if answer == "change":
        ask_kind(ctx)
        return
    if answer != "yes":
        ctx.again()
        return
    data = ctx.data
    photos = [service.PhotoRef(p["channel"], p.get("file_id"), p.get("url"))
              for p in data.get("c_photos", [])]
    registered = service.register(
        ctx.session, ctx.profile, ctx.catalogs, citizen=ctx.citizen, account=ctx.account,
        kind=ComplaintKind(data["c_kind"]), category_code=data["c_category"],
        settlement=data.get("c_settlement"), description=data["c_description"],
        photos=photos, latitude=data.get("c_latitude"), longitude=data.get("c_longitude"),
        address=data.get("c_address"), anonymous=bool(data.get("c_anonymous")), now=ctx.now)
    voice.record(ctx.session, data.get("c_voice"), citizen_id=ctx.citizen.id, now=ctx.now,
                 complaint=registered)
    department = ctx.profile.department(registered.department)
    ctx.clear()
    kind = registered.kind.value
    # Where the answer has to wait for the citizen's next message, say so.
    waits = ctx.news_waits and registered.kind is not ComplaintKind.praise
    ctx.reply(ctx.t(f"complaints.registered_waits.{kind}" if waits
                    else f"complaints.registered.{kind}",
                    reference=registered.reference,
                    department=department.label(ctx.locale) if department else ""),
              [ctx.menu_row()])


# --- the citizen's complaints: history and the follow-up ------------------------

@router.action("cmp")
def on_complaint_action(ctx: Context) -> None:
    action, _, reference = (ctx.payload("cmp") or "").partition(":")
    found = ctx.own(Complaint, reference)  # a typed or forged reference finds nothing
    if found is None:
        ctx.reply(ctx.t("complaints.no_such_complaint"), [ctx.menu_row()])
        return
    if action in {"solved", "unsolved"}:
        if service.followup_answer(ctx.session, ctx.profile, ctx.catalogs, found,
                                   action == "solved", now=ctx.now):
            ctx.reply(ctx.t(f"complaints.followup_thanks.{action}", reference=reference),
                      [ctx.menu_row()])
        else:
            ctx.reply(ctx.t("complaints.followup_stale", reference=reference,
                            state=ctx.t(f"complaints.state.{found.status.value}")),
                      [ctx.menu_row()])
        return
    show_history(ctx, found)


def show_history(ctx: Context, found: Complaint) -> None:
    lines = []
    for event in found.events:
        if event.internal or event.action not in {"created", "status", "reply"}:
            continue
        local = format_date(event.at.astimezone(ctx.profile.tz), ctx.locale)
        if event.action == "reply":
            lines.append(f"{local} — {ctx.t('complaints.history_reply')}: {event.text}")
        elif event.status_to:
            line = f"{local} — {ctx.t('complaints.state.' + event.status_to)}"
            lines.append(f"{line}: {event.text}" if event.text and event.by != "citizen"
                         else line)
    ctx.reply(ctx.t("complaints.history", reference=found.reference,
                    state=ctx.t(f"complaints.state.{found.status.value}"),
                    history="\n".join(lines)), [ctx.menu_row()])


@router.status
def status_lines(ctx: Context) -> list[StatusLine]:
    rows = ctx.session.scalars(select(Complaint).where(
        Complaint.citizen_id == ctx.citizen.id).order_by(Complaint.id.desc()).limit(10)).all()
    return [StatusLine(ctx.t("complaints.status_line", reference=c.reference,
                             kind=ctx.t(f"complaints.kind.{c.kind.value}"),
                             state=ctx.t(f"complaints.state.{c.status.value}")),
                       f"cmp:show:{c.reference}", c.reference,
                       ctx.t(f"complaints.state.{c.status.value}")) for c in rows]


@router.timer("complaints", every_seconds=600)
def complaints_timer(session: Session, profile: Profile, catalogs: Catalogs,
                     now: datetime) -> None:
    """Four weeks after `resolved`: is it really solved?"""
    service.send_followups(session, profile, catalogs, now)
