"""aiogram-style `StatesGroup` / `State` on top of the `transitions` library.

Each group gets one shared `Machine` built once at class creation; a
conversation's state is moved by adding a light carrier model for the length
of one transition and removing it again — never a new Machine per update.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from transitions import Machine


class State:
    """One step of a flow; its name is `Group:attribute`, stored in the database."""

    def __init__(self) -> None:
        self.name: str = ""
        self.group: type[StatesGroup] | None = None

    def __set_name__(self, owner: type, attr: str) -> None:
        self.name = f"{owner.__name__}:{attr}"

    def __repr__(self) -> str:
        return f"<State {self.name}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, State):
            return self.name == other.name
        if isinstance(other, str):
            return self.name == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)


_GROUPS: dict[str, type[StatesGroup]] = {}


class _StatesGroupMeta(type):
    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> type:
        cls = super().__new__(mcs, name, bases, ns)
        states = [value for value in ns.values() if isinstance(value, State)]
        for state in states:
            state.group = cls  # type: ignore[assignment]
            _GROUPS[state.name] = cls  # type: ignore[assignment]
        cls.__states__ = tuple(states)  # type: ignore[attr-defined]
        if states:
            cls.__machine__ = Machine(  # type: ignore[attr-defined]
                model=None,
                states=[s.name for s in states],
                initial=states[0].name,
                auto_transitions=True,
            )
        return cls


class _Carrier:
    state: str


class StatesGroup(metaclass=_StatesGroupMeta):
    """Subclass and declare `State()` attributes, in the order the flow walks them."""

    __states__: ClassVar[tuple[State, ...]]
    __machine__: ClassVar[Machine]
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def names(cls) -> set[str]:
        return {s.name for s in cls.__states__}

    @classmethod
    def move(cls, current: str | None, target: State) -> str:
        """Move from `current` to `target` through the group's machine; entering
        the group from elsewhere starts at `target` itself."""
        machine = cls.__machine__
        carrier = _Carrier()
        initial = current if current in cls.names() else target.name
        with cls._lock:  # handlers run on several threads; the models list is shared
            machine.add_model(carrier, initial=initial)
            try:
                if carrier.state != target.name:
                    carrier.trigger(f"to_{target.name}")  # type: ignore[attr-defined]
            finally:
                machine.remove_model(carrier)
        return carrier.state


def group_of(state_name: str) -> type[StatesGroup] | None:
    """The group a stored state name belongs to (None for an unknown name)."""
    return _GROUPS.get(state_name)
