"""StatesGroup on transitions: names, one shared machine, moves."""

from __future__ import annotations

from bot.engine.fsm import State, StatesGroup, group_of


class Booking(StatesGroup):
    day = State()
    time = State()
    topic = State()


def test_state_names_and_group() -> None:
    assert Booking.day.name == "Booking:day"
    assert Booking.topic.group is Booking
    assert group_of("Booking:time") is Booking
    assert group_of("Nope:x") is None


def test_one_shared_machine_and_no_leaked_models() -> None:
    machine = Booking.__machine__
    assert Booking.move(None, Booking.day) == "Booking:day"
    assert Booking.move("Booking:day", Booking.topic) == "Booking:topic"
    assert Booking.move("Other:step", Booking.time) == "Booking:time"
    assert Booking.__machine__ is machine
    assert machine.models == []
