"""Routers: one per feature, aiogram-style. A flow module creates a `Router`,
decorates its handlers, and the app includes it — adding a flow is adding a
file and one include line (`handlers/__init__.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.engine.fsm import State
from bot.messages import Kind

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from bot.engine.context import Context
    from bot.i18n import Catalogs
    from bot.profile import Profile

Handler = Callable[["Context"], None]


@dataclass(frozen=True)
class StatusLine:
    """One of the citizen's items in /status, in their language; with a
    payload, tapping it shows the item (its history, its actions)."""

    text: str
    payload: str | None = None
    label: str | None = None  # the reference
    brief: str | None = None  # a word or two beside it on the button ("u obradi")


# A status provider lists a citizen's own items of one kind for /status.
StatusProvider = Callable[["Context"], list[StatusLine]]
# A timer's work: runs in one write transaction on the lease holder.
TimerWork = Callable[["Session", "Profile", "Catalogs", "datetime"], object]


@dataclass(frozen=True)
class TimerEntry:
    name: str
    interval: float
    work: TimerWork

DEFAULT_ACCEPTS = frozenset({Kind.text, Kind.button})


@dataclass(frozen=True)
class StateHandler:
    handler: Handler
    accepts: frozenset[Kind]
    max_length: int
    expects: Kind | None = None  # what the step asks for, when it also takes more


@dataclass(frozen=True)
class MenuEntry:
    code: str
    label_key: str
    order: int
    handler: Handler


@dataclass(kw_only=True)
class _Registry:
    """What a router registers, and what the merged set of routers holds."""

    commands: dict[str, Handler] = field(default_factory=dict)
    actions: dict[str, Handler] = field(default_factory=dict)
    states: dict[str, StateHandler] = field(default_factory=dict)
    prompts: dict[str, Handler] = field(default_factory=dict)
    menu: list[MenuEntry] = field(default_factory=list)
    status_providers: list[StatusProvider] = field(default_factory=list)
    timers: list[TimerEntry] = field(default_factory=list)


@dataclass
class Router(_Registry):
    name: str

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        """`/name` typed in any state."""

        def register(handler: Handler) -> Handler:
            for name in names:
                self.commands[name] = handler
            return handler

        return register

    def action(self, prefix: str) -> Callable[[Handler], Handler]:
        """A button whose payload starts with `prefix:` works whatever state the
        conversation is in (a reminder's cancel button, a survey invitation)."""

        def register(handler: Handler) -> Handler:
            self.actions[prefix] = handler
            return handler

        return register

    def state(
        self,
        *states: State,
        accepts: frozenset[Kind] | set[Kind] = DEFAULT_ACCEPTS,
        max_length: int = 4000,
        expects: Kind | None = None,
    ) -> Callable[[Handler], Handler]:
        """Handle what the citizen sends while the conversation is in `states`.
        Kinds not in `accepts` and texts over `max_length` never reach it: the
        engine explains what is expected (`expects`, where the step takes more
        than it asks for, e.g. a photo at a button step) and asks again."""

        def register(handler: Handler) -> Handler:
            for state in states:
                self.states[state.name] = StateHandler(handler, frozenset(accepts), max_length,
                                                       expects)
            return handler

        return register

    def prompt(self, state: State) -> Callable[[Handler], Handler]:
        """How to ask for `state` again (after bad input, or on "back")."""

        def register(handler: Handler) -> Handler:
            self.prompts[state.name] = handler
            return handler

        return register

    def menu_item(self, code: str, label_key: str, order: int) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.menu.append(MenuEntry(code, label_key, order, handler))
            return handler

        return register

    def status(self, provider: StatusProvider) -> StatusProvider:
        self.status_providers.append(provider)
        return provider

    def timer(self, name: str, every_seconds: float) -> Callable[[TimerWork], TimerWork]:
        """Work the worker does every so often (reminders, deadlines), on the
        lease holder only, in a transaction of its own."""

        def register(work: TimerWork) -> TimerWork:
            self.timers.append(TimerEntry(name, every_seconds, work))
            return work

        return register


@dataclass
class RouterSet(_Registry):
    """All routers merged; conflicts are programming errors, found at start-up."""

    @classmethod
    def of(cls, routers: list[Router]) -> RouterSet:
        merged = cls()
        for router in routers:
            for attr in ("commands", "actions", "states", "prompts"):
                target: dict[str, object] = getattr(merged, attr)
                for key, value in getattr(router, attr).items():
                    if key in target:
                        raise ValueError(f"{router.name}: {attr[:-1]} {key!r} registered twice")
                    target[key] = value
            merged.menu.extend(router.menu)
            merged.status_providers.extend(router.status_providers)
            merged.timers.extend(router.timers)
        merged.menu.sort(key=lambda entry: entry.order)
        return merged
