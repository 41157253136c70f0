"""One citizen across both apps, through the real libraries: a code asked
for on Telegram and sent from Viber joins the two; the submissions of both
show in one /status; a notice then arrives once; /link off separates."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import utcnow
from bot.i18n import Catalogs
from bot.models import ChannelAccount, Citizen, Notice, NoticeAnswer, Subscription
from bot.services import notices
from tests.channels.conftest import HEADERS_TG, VIBER_TOKEN, Bench
from tests.fakes.telegram_api import FakeTelegramAPI, tg_callback_update, tg_command_update
from tests.fakes.telegram_api import tg_message_update as tg_text
from tests.fakes.viber_api import FakeViberAPI, viber_message_event, viber_signature

TG_USER, VIBER_USER = 9101, "vLink=="
T = Catalogs()


# The notice at the end goes out at 12:00 in Klokot (the `noon` fixture), whatever
# the hour; `make test-night` runs it again at night.
pytestmark = [pytest.mark.clock, pytest.mark.usefixtures("noon")]


def t(key: str, **params: object) -> str:
    return T.gettext("sr_Latn", key, **params)


async def test_link_telegram_and_viber(bench: Bench, tg: FakeTelegramAPI,
                                       viber: FakeViberAPI) -> None:
    n = iter(range(1, 200))

    async def telegram(update: dict[str, Any]) -> str:
        response = await bench.client.post("/webhooks/telegram", json=update,
                                           headers=HEADERS_TG)
        assert response.status_code == 200
        await bench.deliver()
        return str(tg.delivered("sendMessage")[-1].params["text"])

    async def on_viber(text: str) -> str:
        body = json.dumps(viber_message_event(VIBER_USER, text, language="sr")).encode()
        response = await bench.client.post("/webhooks/viber", content=body, headers={
            "X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200
        await bench.deliver()
        return str(viber.delivered("send_message")[-1].params["text"])

    for update in (tg_command_update(next(n), TG_USER, "/start"),
                   tg_callback_update(next(n), TG_USER, "lang:sr_Latn"),
                   tg_callback_update(next(n), TG_USER, "privacy:ok"),
                   tg_command_update(next(n), TG_USER, "/documents"),
                   tg_text(next(n), TG_USER, "Zapisnik sa sednice Skupštine od 12. marta."),
                   tg_callback_update(next(n), TG_USER, "ddep:assembly"),
                   tg_callback_update(next(n), TG_USER, "dform:electronic"),
                   tg_callback_update(next(n), TG_USER, "durg:no"),
                   tg_callback_update(next(n), TG_USER, "dname:skip"),
                   tg_callback_update(next(n), TG_USER, "dconf:yes")):
        await telegram(update)
    for text in ("/start", "lang:sr_Latn", "privacy:ok", "/notices", "ntc:t:public_debates",
                 "ntc:set:klokot"):
        await on_viber(text)

    code_message = await telegram(tg_command_update(next(n), TG_USER, "/link"))
    code = re.search(r"\b(\d{6})\b", code_message)
    assert code is not None
    wrong = "/link 000000" if code.group(1) != "000000" else "/link 111111"
    assert await on_viber(wrong) == t("link.refused.wrong", minutes=10)
    same_app = await telegram(tg_command_update(next(n), TG_USER, f"/link {code.group(1)}"))
    assert same_app == t("link.refused.same_app", minutes=10)
    done = await on_viber(f"/link {code.group(1)}")
    assert done == t("link.done", apps="Telegram + Viber")
    assert str(tg.delivered("sendMessage")[-1].params["text"]) == done
    assert await on_viber(f"/link {code.group(1)}") == t("link.refused.expired", minutes=10)
    with bench.runtime.db.read_session() as session:
        citizens = session.scalars(select(Citizen)).all()
        assert len(citizens) == 1  # one citizen, two accounts
        assert len(session.scalars(select(ChannelAccount)).all()) == 2
        assert session.scalars(select(Subscription)).one().citizen_id == citizens[0].id

    status = await on_viber("/status")
    assert "D-" in status  # the request made on Telegram

    midday = utcnow()  # 12:00 in Klokot: the `noon` fixture
    with bench.runtime.db.session() as session:
        notices.create(session, bench.runtime.profile, topic="public_debates",
                       settlements=None, texts={loc: f"Rasprava ({loc})" for loc in
                                                bench.runtime.profile.enabled_locales},
                       send_at=None, rsvp=True, by="info1", now=midday)
        for account in session.scalars(select(ChannelAccount)):
            account.last_inbound_at = utcnow()
    before_tg = len(tg.delivered("sendMessage"))
    before_viber = len(viber.delivered("send_message"))
    for _ in range(3):
        with bench.runtime.db.session() as session:
            notices.deliver(session, bench.runtime.profile, bench.runtime.catalogs, midday)
    await bench.deliver()
    got = (len(tg.delivered("sendMessage")) - before_tg,
           len(viber.delivered("send_message")) - before_viber)
    assert sorted(got) == [0, 1]  # once, on one channel

    # The public debate: "I'll come" and a question, from the app that got it.
    with bench.runtime.db.read_session() as session:
        notice_id = session.scalars(select(Notice)).one().id
    if got[0]:
        await telegram(tg_callback_update(next(n), TG_USER, f"rsvp:yes:{notice_id}"))
        await telegram(tg_callback_update(next(n), TG_USER, f"rsvp:ask:{notice_id}"))
        saved = await telegram(tg_text(next(n), TG_USER, "Kada počinju radovi na putu?"))
    else:
        await on_viber(f"rsvp:yes:{notice_id}")
        await on_viber(f"rsvp:ask:{notice_id}")
        saved = await on_viber("Kada počinju radovi na putu?")
    assert saved == t("notices.question_saved")
    with bench.runtime.db.read_session() as session:
        answers = sorted((a.kind, a.settlement) for a in session.scalars(select(NoticeAnswer)))
    assert answers == [("coming", "klokot"), ("question", "klokot")]

    assert await on_viber("/link off") == t("link.separated")
    assert await on_viber("/link off") == t("link.not_linked")
    with bench.runtime.db.read_session() as session:
        assert len(session.scalars(select(Citizen)).all()) == 2
