"""What a handler gets: the message, the citizen, the conversation, and ways
to answer. Handlers append replies; the engine writes them to the outbox in
the same transaction as the state they leave behind."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from bot.engine.fsm import State
from bot.filestore import FileStore
from bot.i18n import Catalogs, format_date, locale_from_platform, script_unknown
from bot.messages import EDIT_SOURCE, MAX_TEXT, Button, FileRef, Incoming, Reply, split_payload
from bot.models import Booking, ChannelAccount, Citizen, Complaint, Conversation, DocumentRequest
from bot.outbox.queue import bot_started_may_wait
from bot.profile import Profile

if TYPE_CHECKING:
    from bot.engine.router import RouterSet


KEEP_PREFIX = "keep:"
# The citizen's items that buttons name by their reference.
OwnItem = TypeVar("OwnItem", Booking, Complaint, DocumentRequest)


@dataclass
class Context:
    msg: Incoming
    session: Session
    account: ChannelAccount
    citizen: Citizen
    conversation: Conversation
    profile: Profile
    catalogs: Catalogs
    routes: RouterSet
    now: datetime
    files: FileStore
    survey_key: str = ""  # for the survey markers: one answer per person (SURVEY_KEY)
    replies: list[Reply] = field(default_factory=list)
    # What was wrong with the answer, said at the top of the next question.
    pending_preface: str | None = None

    # --- language -------------------------------------------------------
    @property
    def locale(self) -> str:
        return self.citizen.language or self.profile.default_locale

    @property
    def suggested_locale(self) -> str | None:
        """What the platform says the phone speaks, if the profile offers it;
        None for Serbian without a script (greeted in both, and the others)."""
        if script_unknown(self.account.platform_language):
            return None
        return locale_from_platform(self.account.platform_language, self.profile.enabled_locales)

    @property
    def secret_key(self) -> str:
        """For the one-way tokens of survey participations made before the
        survey markers (`survey_key`)."""
        return self.files.secret

    def t(self, key: str, /, **params: object) -> str:
        return self.catalogs.gettext(self.locale, key, **params)

    def tn(self, key: str, n: int, /, **params: object) -> str:
        return self.catalogs.ngettext(self.locale, key, n, **params)

    def date(self, value: datetime, long: bool = False) -> str:
        return format_date(value, self.locale, long=long)

    @property
    def news_waits(self) -> bool:
        """Whether what the bot starts on this chat (a reminder, an answer)
        may have to wait for the citizen's next message: then no text may
        promise it "here", nor "the day before"."""
        return bot_started_may_wait(self.account, self.profile)

    # --- answering ------------------------------------------------------
    def reply(
        self,
        text: str,
        buttons: list[list[Button]] | None = None,
        *,
        request: str | None = None,
        request_label: str | None = None,
        file: FileRef | None = None,
        in_place: bool = False,
    ) -> Reply:
        """Queue one message. `in_place` (a toggle redrawn) puts it in the place
        of the message whose button was pressed, where the platform can edit;
        elsewhere it is a new message. A pending preface (an error said before
        the question again) goes on top of it, in the same message."""
        if self.pending_preface is not None and file is None:
            joined = f"{self.pending_preface}\n\n{text}"
            if len(joined) <= MAX_TEXT:
                text = joined
            else:
                self.replies.append(Reply(self.pending_preface, locale=self.citizen.language))
            self.pending_preface = None
        reply = Reply(text, buttons or [], request, request_label, file,
                      edit=EDIT_SOURCE if in_place else None, locale=self.citizen.language)
        self.replies.append(reply)
        return reply

    def preface(self, text: str) -> None:
        """Say `text` (what was wrong with the answer) at the top of the next
        reply, so an error and the question asked again are one message with
        the question's keyboard. `flush_preface` sends it alone if no reply
        followed."""
        self.pending_preface = f"{self.pending_preface}\n\n{text}" if self.pending_preface \
            else text

    def flush_preface(self) -> None:
        if self.pending_preface is not None:
            text, self.pending_preface = self.pending_preface, None
            self.replies.append(Reply(text, locale=self.citizen.language))

    def nav_row(self, back: bool = True) -> list[Button]:
        """The way back and the way out that every step offers."""
        row = [Button(self.t("button.back"), "nav:back")] if back else []
        row.append(Button(self.t("button.cancel"), "nav:cancel"))
        return row

    def menu_row(self) -> list[Button]:
        """One button back to the main menu, under a flow's last message."""
        return [Button(self.t("button.menu"), "nav:menu")]

    # --- state ----------------------------------------------------------
    @property
    def state(self) -> str | None:
        return self.conversation.state

    def set_state(self, target: State | None) -> None:
        if target is None:
            self.conversation.state = None
            return
        assert target.group is not None, f"{target!r} is not declared in a StatesGroup"
        self.conversation.state = target.group.move(self.conversation.state, target)

    @property
    def data(self) -> dict[str, Any]:
        return self.conversation.data

    def update_data(self, **values: Any) -> None:
        # A new dict so that the JSON column is seen as changed.
        self.conversation.data = {**self.conversation.data, **values}

    def clear(self) -> None:
        """Leave the current flow. Data under keys starting with `keep:` —
        a survey half answered — survives other flows."""
        self.conversation.state = None
        self.conversation.data = {k: v for k, v in self.conversation.data.items()
                                  if k.startswith(KEEP_PREFIX)}

    def payload(self, prefix: str) -> str | None:
        """The argument of a button payload with this prefix, or None."""
        if self.msg.payload is None:
            return None
        got, rest = split_payload(self.msg.payload)
        return rest if got == prefix else None

    def choice(self, prefix: str, allowed: Collection[str]) -> str | None:
        """The pressed button's value when it is one of `allowed`; otherwise
        (an old button, a forged payload) the question is asked again and the
        answer is None."""
        value = self.payload(prefix)
        if value is None or value not in allowed:
            self.again()
            return None
        return value

    def again(self, key: str = "error.stale_button", /, **params: object) -> None:
        """Say what was wrong with the answer and ask the current question
        again, in one message with the question's keyboard."""
        self.preface(self.t(key, **params))
        self.prompt_again()
        self.flush_preface()

    def stale(self) -> None:
        """The polite answer to a button that no longer applies — or that was
        never offered: on Viber a button is only a text, so anyone can type one."""
        self.reply(self.t("error.stale_button"), [self.menu_row()])

    # --- what a payload names -------------------------------------------
    def own(self, model: type[OwnItem], reference: str | None,
            *criteria: ColumnElement[bool]) -> OwnItem | None:
        """The citizen's own item that a button names by its reference, or
        None: a payload typed or forged with someone else's reference (or one
        never offered) finds nothing, so it can change nothing."""
        if not reference:
            return None
        return self.session.scalar(select(model).where(
            model.reference == reference, model.citizen_id == self.citizen.id, *criteria))

    def meaningful_text(self, minimum: int) -> str | None:
        """The answer with its spaces tidied, if it has at least `minimum`
        characters and some letters or digits (not only emoji or dots)."""
        text = " ".join((self.msg.text or "").split())
        if len(text) < minimum or not any(ch.isalnum() for ch in text):
            return None
        return text

    def prompt_again(self) -> bool:
        """Ask the current state's question again; False if it has no prompt."""
        if self.state and self.state in self.routes.prompts:
            self.routes.prompts[self.state](self)
            return True
        return False
