"""Paging parameters whose `sort` choices appear in the OpenAPI schema as an enum.

(No `from __future__ import annotations` here: the parameter types are built
at run time, and FastAPI must see them as objects, not strings.)"""

from typing import Annotated, Literal

from fastapi import Query

from bot.admin.common import PageParams


def page_params(*fields: str) -> type[PageParams]:
    """A PageParams dependency whose `sort` accepts `field` or `-field` for these fields."""
    choices = tuple(value for name in fields for value in (name, f"-{name}"))
    sort_type = Literal[choices]  # type: ignore[valid-type]

    class Params(PageParams):
        def __init__(
            self,
            limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
            offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")] = 0,
            sort: Annotated[sort_type | None,
                            Query(description="Sort by a field; -field descends")] = None,
        ) -> None:
            super().__init__(limit, offset, sort)

    return Params
