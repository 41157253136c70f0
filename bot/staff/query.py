"""What every staff list shares: a window of rows (`limit`, `offset`), sorting
by an allowed field (`-field` descends), checked filter choices, and loading
what a page of rows needs in chunks. The web layer declares the parameters;
these do the work."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bot.profile import Profile
from bot.refusals import Invalid, NotFound

T = TypeVar("T")
F = TypeVar("F", bound=BaseModel)
CHUNK = 500  # ids per IN (…) when loading what a page of rows needs


@dataclass
class PageWindow:
    """One page of a list: `limit` rows from `offset`, sorted by `sort`."""

    limit: int = 50
    offset: int = 0
    sort: str | None = None


def as_utc(value: datetime | None) -> datetime | None:
    """A filter's time without a zone is taken as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def sorted_by(stmt: Select[Any], sort: str | None, allowed: Mapping[str, Any],
              default: Sequence[Any]) -> Select[Any]:
    """Apply `sort` if it names an allowed field, else the default."""
    if not sort:
        return stmt.order_by(*default)
    name = sort.lstrip("-")
    if name not in allowed:
        raise Invalid("invalid_sort",
                      f"cannot sort by {name!r}; choose one of: {', '.join(sorted(allowed))}")
    column = allowed[name]
    return stmt.order_by(column.desc() if sort.startswith("-") else column.asc(), *default)


def paginate(session: Session, stmt: Select[Any], page: PageWindow) -> tuple[list[Any], int]:
    """This page's rows and how many match in all."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.execute(stmt.limit(page.limit).offset(page.offset)).all()
    return [row[0] if len(row) == 1 else row for row in rows], int(total or 0)


def form_filters(model: type[F], values: Mapping[str, object], profile: Profile,
                 check: Callable[[Profile, F], None]) -> F:
    """A capability's filter model from a form's values (the staff pages'),
    an empty value meaning "any"; a value that fails validation or that `check`
    refuses is `Invalid` (`invalid_filter`)."""
    try:
        filters = model.model_validate({k: v for k, v in values.items() if v not in ("", None)})
    except ValidationError as err:
        fields = ", ".join(str(e["loc"][0]) for e in err.errors() if e["loc"])
        raise Invalid("invalid_filter", f"invalid filter: {fields}") from err
    check(profile, filters)
    return filters


def one(session: Session, stmt: Select[tuple[T]], missing: str) -> T:
    """The one row the statement finds, or `NotFound` saying what is `missing`
    (an item the officer may not see is missing too)."""
    found = session.scalar(stmt)
    if found is None:
        raise NotFound("not_found", missing)
    return found


def matching(stmt: Select[Any], *pairs: tuple[Any, Any]) -> Select[Any]:
    """Narrow to rows whose column equals each given filter value, as
    (column, value) pairs; a value not given (None or empty) means any."""
    for column, value in pairs:
        if value is not None and value != "":
            stmt = stmt.where(column == value)
    return stmt


def within(stmt: Select[Any], column: Any, low: Any, high: Any) -> Select[Any]:
    """Narrow to rows whose column lies between the given bounds, both included."""
    if low:
        stmt = stmt.where(column >= low)
    if high:
        stmt = stmt.where(column <= high)
    return stmt


def check_choice(name: str, value: str | None, allowed: Sequence[str]) -> None:
    """Unknown filter values are an error, not an empty list."""
    if value is not None and value not in allowed:
        raise Invalid("invalid_filter",
                      f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
