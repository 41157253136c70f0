"""Human references (`R-2026-0042`, `D-…`, `C-…`), counted per kind per year."""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy import String, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.db import Base, insert_for


class ReferenceCounter(Base):
    """The last number given out for a kind in a year. Incremented with one
    UPDATE … RETURNING, so two transactions never get the same number."""

    __tablename__ = "reference_counter"

    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


def next_reference(session: Session, kind: str, now: datetime, tz: tzinfo) -> str:
    """The next reference of a kind, in the year of `now` in the municipality's
    zone (a request filed at 00:30 on 1 January local time is of the new year)."""
    year = now.astimezone(tz).year
    session.execute(insert_for(session)(ReferenceCounter).values(kind=kind, year=year, last=0)
                    .on_conflict_do_nothing(index_elements=["kind", "year"]))
    number = session.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.kind == kind, ReferenceCounter.year == year)
        .values(last=ReferenceCounter.last + 1)
        .returning(ReferenceCounter.last)
    ).scalar_one()
    return f"{kind}-{year}-{number:04d}"
