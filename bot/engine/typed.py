"""Typed answers: on Viber a button press arrives as text, and many people type
the answer instead of tapping. This decides, channel-neutrally, what a typed
text stands for at the current step — a button the bot offered, a command,
or just text.

The buttons last offered to a chat are kept with its conversation (the
replies of the last turn) and, for messages the bot started since (a notice,
a reminder), read from the outbox. A typed text counts as a button only when
it names one of those: its payload exactly, its label (without leading
symbols and trailing counters, in any case, Serbian in either script, with or
without diacritics), a unique beginning of one label or of a word in it (on
steps that take no free text), or a yes/no word where the step offers yes and
no. The way-out words (menu, back, cancel in each language) work without a
slash anywhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.messages import Button, Kind, Reply
from bot.models import OutboxMessage
from bot.outbox.queue import flush_before_reading

if TYPE_CHECKING:
    from bot.engine.context import Context

OFFERED_KEY = "_offered"
# A prefix shorter than this is a typo more often than a choice.
PREFIX_MIN = 2
WORD_PREFIX_MIN = 3  # inside a label, two letters begin too many words
# How far back the outbox is read for bot-started messages since the last turn.
_RECENT_ROWS = 20

_CYRILLIC = {"љ": "lj", "њ": "nj", "џ": "dž", "ђ": "đ", "ћ": "ć", "ч": "č", "ш": "š", "ж": "ž"}
_CYRILLIC.update(zip("абвгдезијклмнопрстуфхц", "abvgdezijklmnoprstufhc", strict=True))
# đ has no decomposition; people type it "dj" (and sometimes "d").
_PLAIN = {"đ": "dj", "ß": "ss", "ø": "o", "ł": "l"}
# A trailing counter or note in brackets: "Gotovo (izabrano: 2)".
_TRAILING_NOTE = re.compile(r"\s*[(\[][^()\[\]]*[)\]]\s*$")

WAY_OUT_COMMANDS = {
    **dict.fromkeys(("meni", "menu", "meny", "menyja", "glavni meni"), "menu"),
    **dict.fromkeys(("otkazi", "cancel", "anulo", "odustani"), "cancel"),
}
BACK_WORDS = frozenset({"nazad", "back", "kthehu", "prapa"})
BACK_PAYLOAD = "nav:back"
YES_WORDS = frozenset({"da", "po", "yes"})
NO_WORDS = frozenset({"ne", "jo", "no"})


@lru_cache(maxsize=4096)  # every label on screen, again on every typed answer
def normalize(text: str) -> str:
    """What a label and a typed answer are compared by: no leading symbols or
    emoji, no trailing counter, case-folded, Serbian Cyrillic as Latin, no
    diacritics, single spaces."""
    text = unicodedata.normalize("NFKC", text).strip()
    while True:
        cut = _TRAILING_NOTE.sub("", text)
        if cut == text:
            break
        text = cut
    text = text.casefold()
    text = "".join(_CYRILLIC.get(ch, ch) for ch in text)
    text = "".join(_PLAIN.get(ch, ch) for ch in text)
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(ch))
    # Symbols and punctuation at either end (emoji, ✔, ▫️, "…", "!") go.
    start, end = 0, len(text)
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return " ".join(text[start:end].split())


def _trimmed(text: str) -> str:
    """Only symbols, counters, case and spaces set aside: the script kept."""
    text = unicodedata.normalize("NFKC", text).strip()
    while (cut := _TRAILING_NOTE.sub("", text)) != text:
        text = cut
    start, end = 0, len(text)
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return " ".join(text[start:end].casefold().split())


@dataclass(frozen=True)
class Offered:
    """One button on screen: its label, its payload, and its row (the "no" of
    a two-button row with a "yes")."""

    label: str
    payload: str
    row: int


def offered_in(replies: Iterable[Reply], first_row: int = 0) -> list[Offered]:
    buttons: list[Offered] = []
    row_number = first_row
    for reply in replies:
        for row in reply.buttons:
            buttons += [Offered(b.label, b.payload, row_number) for b in row]
            row_number += 1
    return buttons


def remember(data: dict[str, Any], replies: list[Reply]) -> dict[str, Any] | None:
    """The conversation data with this turn's buttons kept (None: unchanged)."""
    buttons = offered_in(replies)
    if not buttons and not data.get(OFFERED_KEY):
        return None
    stored = [[b.label, b.payload, b.row] for b in buttons] or None
    return {**data, OFFERED_KEY: stored}


def recalled(data: dict[str, Any]) -> list[Offered]:
    stored = data.get(OFFERED_KEY) or []
    try:
        return [Offered(str(label), str(payload), int(row)) for label, payload, row in stored]
    except (TypeError, ValueError):  # kept by an older version: start afresh
        return []


_RECENT = (
    select(OutboxMessage.id, OutboxMessage.origin)
    .where(OutboxMessage.account_id == bindparam("account_id"))
    .order_by(OutboxMessage.id.desc())
    .limit(_RECENT_ROWS)
)
_BODIES = (
    select(OutboxMessage.body)
    .where(OutboxMessage.id.in_(bindparam("ids", expanding=True)))
    .order_by(OutboxMessage.id.desc())
)


def started_since_last_turn(session: Session, account_id: int) -> list[Reply]:
    """Messages the bot started (a notice, a reminder, a staff answer) after
    its last reply to this chat: their buttons are on screen too. Their
    bodies are read only when there are any — usually the latest message is
    the last reply, and decoding twenty bodies to learn that was a tenth of
    the work per update."""
    flush_before_reading(session)
    connection = session.connection()
    started: list[int] = []
    for row_id, origin in connection.execute(_RECENT, {"account_id": account_id}):
        if origin == "reply":
            break
        started.append(row_id)
    if not started:
        return []
    found: list[Reply] = []
    for (body,) in connection.execute(_BODIES, {"ids": started}):
        try:
            found.append(Reply.from_json(body))
        except (KeyError, TypeError, ValueError):
            continue
    return found


@dataclass(frozen=True)
class Press:
    """The text stands for this button."""

    payload: str


@dataclass(frozen=True)
class Command:
    """The text is a way-out word: this command, as if typed with a slash."""

    name: str


@dataclass(frozen=True)
class Ambiguous:
    """The text begins several labels: which one is meant must be asked."""

    labels: tuple[str, ...]


Meaning = Press | Command | Ambiguous


def _answer_of(payload: str) -> str | None:
    """"yes" or "no" when the payload says so (`durg:yes`, `rsv:cancel_yes:R-1`)."""
    for part in payload.split(":")[1:]:
        if part == "yes" or part.endswith("_yes"):
            return "yes"
        if part == "no" or part.endswith("_no"):
            return "no"
    return None


def _yes_or_no(word: str, buttons: list[Offered]) -> Press | None:
    """The button a typed yes or no stands for: the one whose payload says it;
    for "no", else the other button beside the only "yes" in its row
    ("Yes, cancel" / "Keep it")."""
    wanted = "yes" if word in YES_WORDS else "no"
    named = [b for b in buttons if _answer_of(b.payload) == wanted]
    if len({b.payload for b in named}) == 1:
        return Press(named[0].payload)
    if named or wanted == "yes":
        return None
    yeses = [b for b in buttons if _answer_of(b.payload) == "yes"]
    if len(yeses) != 1:
        return None
    beside = [b for b in buttons if b.row == yeses[0].row and b is not yeses[0]]
    return Press(beside[0].payload) if len(beside) == 1 else None


def understand(text: str, buttons: list[Offered], *, prefixes: bool) -> Meaning | None:
    """What a typed `text` stands for given the `buttons` on screen; None: it
    is just text. `prefixes`: a beginning of a label counts (steps that take
    no free text, where nothing else could be meant)."""
    raw = text.strip()
    if not raw:
        return None
    for button in buttons:
        if raw == button.payload:
            return Press(button.payload)
    typed = normalize(raw)
    if not typed:
        return None
    # As written first ("Српски" is not "Srpski"), then in either script,
    # without diacritics.
    for fold in (_trimmed, normalize):
        exact = {b.payload for b in buttons if fold(b.label) == fold(raw)}
        if len(exact) == 1:
            return Press(exact.pop())
    if typed in YES_WORDS | NO_WORDS:
        answer = _yes_or_no(typed, buttons)
        if answer is not None:
            return answer
    if typed in WAY_OUT_COMMANDS:
        return Command(WAY_OUT_COMMANDS[typed])
    if typed in BACK_WORDS:
        return Press(BACK_PAYLOAD)
    if not prefixes or len(typed) < PREFIX_MIN:
        return None
    starting: dict[str, Offered] = {}
    for button in buttons:
        if normalize(button.label).startswith(typed):
            starting.setdefault(button.payload, button)
    if not starting and len(typed) >= WORD_PREFIX_MIN:
        # "nastavi" for "Razumem, nastavi": the beginning of a later word
        for button in buttons:
            if any(word.startswith(typed) for word in _words_after_first(button.label)):
                starting.setdefault(button.payload, button)
    if len(starting) == 1:
        return Press(next(iter(starting)))
    if len(starting) > 1:
        return Ambiguous(tuple(b.label for b in starting.values()))
    return None


def _words_after_first(label: str) -> list[str]:
    """The label's later words, each with what follows it ("razumem, nastavi"
    → ["nastavi"]), so a typed beginning of any of them can name the button."""
    folded = normalize(label)
    return [folded[match.start():] for match in re.finditer(r"(?<=[\s,.;:/(–-])\w", folded)]


# --- the engine's side ------------------------------------------------------------

# The "More…" button a channel adds to a keyboard too long for one screen
# (`more:<page>`, bot/channels/viber.py): offered by the channel, not the flow.
PAGE_PAYLOAD = re.compile(r"more:\d{1,2}")
# Longer texts are descriptions, addresses, questions: never a button.
_BUTTON_TEXT_MAX = 80


def read_typed(ctx: Context) -> bool:
    """Turn a typed text into the button or command it stands for (in
    `ctx.msg`). True when it was answered here: a beginning shared by several
    labels is asked about, with the same buttons, instead of guessed."""
    msg = ctx.msg
    if msg.kind is not Kind.text or not msg.text or len(msg.text) > _BUTTON_TEXT_MAX:
        return False
    if PAGE_PAYLOAD.fullmatch(msg.text):  # a channel's own "More…" (Viber), never in a Reply
        ctx.msg = replace(msg, kind=Kind.button, payload=msg.text)
        return False
    handler = ctx.routes.states.get(ctx.state) if ctx.state else None
    prefixes = handler is None or Kind.text not in handler.accepts
    buttons = recalled(ctx.data)
    meaning = understand(msg.text, buttons, prefixes=prefixes)
    if meaning is None or isinstance(meaning, Command | Ambiguous):
        later = offered_in(started_since_last_turn(ctx.session, ctx.account.id),
                           first_row=1 + max((b.row for b in buttons), default=0))
        if later:
            buttons = [*buttons, *later]
            meaning = understand(msg.text, buttons, prefixes=prefixes) or meaning
    if isinstance(meaning, Press):
        ctx.msg = replace(msg, kind=Kind.button, payload=meaning.payload)
    elif isinstance(meaning, Command):
        ctx.msg = replace(msg, kind=Kind.command, command=meaning.name, args="")
    elif isinstance(meaning, Ambiguous):
        _ask_which(ctx, meaning, buttons)
        return True
    return False


def _ask_which(ctx: Context, meaning: Ambiguous, buttons: list[Offered]) -> None:
    """Several labels begin so: name them and show the same keyboard again."""
    options = ", ".join(f"„{normalize_label(label)}“" for label in meaning.labels)
    ctx.preface(ctx.t("error.ambiguous_choice", typed=(ctx.msg.text or "").strip(),
                      options=options))
    if ctx.prompt_again():
        ctx.flush_preface()
        return
    rows: dict[int, list[Button]] = {}
    for button in buttons:
        rows.setdefault(button.row, []).append(Button(button.label, button.payload))
    text, ctx.pending_preface = ctx.pending_preface or "", None
    ctx.reply(text, list(rows.values()))


def normalize_label(label: str) -> str:
    """A label as it reads, without its leading symbols: for naming it in a sentence."""
    start = 0
    while start < len(label) and not label[start].isalnum():
        start += 1
    return label[start:].strip()


def remember_offered(ctx: Context, also: Iterable[Reply] = ()) -> None:
    """Keep the buttons of this turn's replies with the conversation, and those
    of `also` (the step's question, still answerable under a "continue or
    start over?")."""
    data = remember(ctx.conversation.data, [*ctx.replies, *also])
    if data is not None:
        ctx.conversation.data = data
