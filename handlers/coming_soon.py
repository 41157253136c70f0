"""Capabilities of SPEC §3 not built yet. The menu shows them and says so
honestly, with the office to contact meanwhile. Each capability's issue
removes its entry here when its own flow lands."""

from __future__ import annotations

from functools import partial

from bot.engine.context import Context
from bot.engine.messages import Button
from bot.engine.router import Router

router = Router("coming_soon")

# (menu code, command, menu label key, menu order)
PENDING = [
    ("survey", "survey", "menu.survey", 40),
]
PENDING_COMMANDS: list[tuple[str, str]] = []


def coming_soon(ctx: Context, label_key: str) -> None:
    ctx.clear()
    ctx.reply(
        ctx.t(
            "coming_soon",
            feature=ctx.t(label_key),
            phone=ctx.profile.localized_contact("phone", ctx.locale),
            email=ctx.profile.localized_contact("email", ctx.locale),
        ),
        [[Button(ctx.t("button.menu"), "nav:menu")]],
    )


for _code, _command, _label, _order in PENDING:
    _handler = partial(coming_soon, label_key=_label)
    router.command(_command)(_handler)
    router.menu_item(_code, _label, _order)(_handler)

for _command, _label in PENDING_COMMANDS:
    router.command(_command)(partial(coming_soon, label_key=_label))
