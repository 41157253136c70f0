"""The request's database session: what a staff write changed is committed
before the answer leaves, so the page a browser is redirected to (or an API
client's next read) already sees it."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from sqlalchemy import func, select

from bot.admin.deps import SessionDep
from bot.app import create_app
from bot.db import Database, utcnow
from bot.models.staff import AuditEntry
from tests.factories import make_runtime


async def test_a_write_is_committed_before_the_answer_leaves(db: Database) -> None:
    app = create_app(runtime=make_runtime(db), run_sender=False)

    @app.post("/probe-write")
    def probe(session: SessionDep) -> dict[str, bool]:
        session.add(AuditEntry(at=utcnow(), username="probe", action="probe"))
        return {"ok": True}

    seen_when_answered: list[int] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            with db.read_session() as session:  # another connection, as the next request's
                seen_when_answered.append(int(session.scalar(
                    select(func.count()).select_from(AuditEntry)
                    .where(AuditEntry.action == "probe")) or 0))

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/probe-write", "raw_path": b"",
             "query_string": b"", "root_path": "", "headers": [(b"host", b"test")],
             "client": ("127.0.0.1", 5000), "server": ("test", 80)}
    await app(scope, receive, send)
    assert seen_when_answered == [1]
