"""The flows, one module per capability. Adding a flow: write its module with
a `router`, and add it to `ROUTERS`."""

from __future__ import annotations

from bot.engine.router import Router, RouterSet
from handlers import (
    complaints,
    data_rights,
    documents,
    linking,
    notices,
    reception,
    sms_match,
    staff_link,
    start,
    surveys,
)

ROUTERS: list[Router] = [start.router, reception.router, documents.router, complaints.router,
                         data_rights.router, notices.router, linking.router,
                         surveys.router, staff_link.router, sms_match.router]


def build_routes(routers: list[Router] | None = None) -> RouterSet:
    return RouterSet.of(routers if routers is not None else ROUTERS)
