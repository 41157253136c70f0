"""Alembic: one head, and the migrations build exactly what the models say."""

from __future__ import annotations

import stat
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from bot.db import Base, Database
from bot.migrate import heads, upgrade


def test_single_head() -> None:
    assert len(heads()) == 1


def test_migrations_match_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_the_sqlite_database_is_private_to_the_service(tmp_path: Path) -> None:
    """Citizens' data must not be readable by other users of the server
    (security review, item 11: the file was created 0644)."""
    folder = tmp_path / "data"
    url = f"sqlite:///{folder / 'klokot.db'}"
    upgrade(url)
    database = Database(url)
    with database.session() as session:  # a write makes SQLite's -wal file too
        session.execute(text("UPDATE reference_counter SET last = last"))
    database.dispose()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_anonymous_responses_already_stored_lose_their_order_of_arrival(tmp_path: Path) -> None:
    """#13, item 12: responses stored before the change had ids in the order
    they came; the migration redraws the anonymous ones at random and keeps
    the named ones and the participations as they were."""
    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "4bc43018fd39")
    engine = create_engine(url)
    with engine.begin() as conn:
        for survey_id, anonymous in ((1, True), (2, False)):
            conn.execute(text(
                "INSERT INTO survey (id, slug, title, anonymous, questions, status, created_by, "
                "created_at) VALUES (:id, :slug, '{}', :anonymous, '[]', 'open', 'x', "
                "'2026-12-01 10:00:00')"), {"id": survey_id, "slug": f"s{survey_id}",
                                            "anonymous": anonymous})
        for number in range(1, 7):
            conn.execute(text(
                "INSERT INTO survey_response (id, survey_id, completed_on, answers) "
                "VALUES (:id, :survey, '2026-12-01', :answers)"),
                {"id": number, "survey": 1 if number <= 5 else 2,
                 "answers": f'{{"n": {number}}}'})
        conn.execute(text("INSERT INTO survey_participant (survey_id, token, started_on, "
                          "completed) VALUES (1, 'old-token', '2026-12-01', 1)"))
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, survey_id, answers, mixed FROM survey_response ORDER BY id")).all()
        tokens = conn.execute(text("SELECT token FROM survey_participant")).scalars().all()
    engine.dispose()
    assert rows[0][:2] == (6, 2)  # the named one keeps its id
    redrawn = rows[1:]
    assert len(redrawn) == 5 and all(row[0] >= 2**30 and row[1] == 1 for row in redrawn)
    assert sorted(row[2] for row in redrawn) == [f'{{"n": {n}}}' for n in range(1, 6)]
    assert all(row[3] for row in rows) and tokens == ["old-token"]
