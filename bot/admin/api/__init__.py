"""The admin API under /api/v1: one router file per resource."""

from fastapi import APIRouter

from bot.admin.api import (
    audit,
    auth,
    citizens,
    complaints,
    documents,
    notices,
    overview,
    reception,
    reports,
    sms,
    surveys,
)

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(auth.router)
api_router.include_router(citizens.router)
api_router.include_router(reception.router)
api_router.include_router(documents.router)
api_router.include_router(complaints.router)
api_router.include_router(notices.router)
api_router.include_router(surveys.router)
api_router.include_router(audit.router)
api_router.include_router(overview.router)
api_router.include_router(reports.router)
api_router.include_router(sms.router)
