"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) at /open311/v2/.

Reading is public and shows only what an officer approved: complaints with
`published` true, and of those only the `public_*` copies of the description
and location an officer chose. The query itself selects only those columns,
so no name, phone, email, citizen, account, channel, anonymity flag or
Open311 client can reach an answer. Photos and voice messages are never
public: `media_url` is always null, and a `media_url` sent with a new
request is ignored (a complaint told by voice reads "(voice message)" in its
officer-approved description, if the officer keeps it).

Filing (`POST requests.json`) takes a key from `klokot-bot open311 add-key`;
the complaint goes to its department like one from the chat and appears in
`GET` only once an officer approves it. A key files at most
OPEN311_REQUESTS_PER_HOUR (30) requests in any hour; the next is answered
429 with Retry-After.

This is a separate ASGI app mounted on the main one: its errors are GeoReport
error arrays (`[{"code": 400, "description": "…"}]`) rather than the admin
API's problem JSON, and it stays out of the admin OpenAPI schema — it is
documented by its own specification. Only JSON is served.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.db import utcnow
from bot.models import Complaint, ComplaintStatus, Open311Key
from bot.models.complaints import CLOSED
from bot.open311.keys import authenticate, wait_before_filing
from bot.profile import Profile
from bot.runtime import Runtime
from bot.services import complaints as service
from bot.services.phones import normalize_phone

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-26T00:00:00Z"  # when this interface last changed
LIMIT = 1000  # the most requests one GET answers (the spec's suggestion)
WINDOW = timedelta(days=90)  # the default and the widest date window
IDS_MAX = 1000
DATE_MAX = 40
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
NAME_MAX, EMAIL_MAX, PHONE_MAX, COORDINATE_MAX = 200, 200, 64, 40
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
OPEN_STATES = (ComplaintStatus.open, ComplaintStatus.in_progress)
# Only what may be public is ever read: see the module's docstring.
PUBLIC_COLUMNS = (Complaint.reference, Complaint.status, Complaint.category,
                  Complaint.department, Complaint.public_description, Complaint.created_at,
                  Complaint.updated_at, Complaint.public_address, Complaint.public_latitude,
                  Complaint.public_longitude)


class Open311Error(Exception):
    """An error answered as a GeoReport v2 error array with this HTTP status."""

    def __init__(self, status: int, description: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.headers = status, description, headers


def error_response(status: int, description: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status,
                        headers=headers)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def current_time() -> datetime:
    """The app's clock: "now" for filing and its limit (tests set it)."""
    return utcnow()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Now = Annotated[datetime, Depends(current_time)]
Jurisdiction = Annotated[str | None, Query(
    description="Optional; when given it must be the municipality's profile code")]
Locale = Annotated[str | None, Query(
    description="Names in this enabled locale (e.g. en, sq, sr_Latn, sr_Cyrl); "
                "default: the municipality's default locale")]
FormText = Annotated[str | None, Form()]

router = APIRouter()


# --- shared checks ----------------------------------------------------------------

def check_jurisdiction(profile: Profile, value: str | None) -> None:
    if value and value.strip() and value.strip() != profile.code:
        raise Open311Error(404, f"unknown jurisdiction_id {value.strip()!r}; this server "
                           f"serves only {profile.code!r}")


def choose_locale(profile: Profile, value: str | None) -> str:
    if value is None or not value.strip():
        return profile.default_locale
    code = value.strip().replace("-", "_")
    if code not in profile.enabled_locales:
        raise Open311Error(400, f"unknown locale {value.strip()!r}; choose one of: "
                           f"{', '.join(profile.enabled_locales)}")
    return code


def _listed(value: str | None) -> list[str]:
    """A comma-separated parameter as its distinct, non-empty items, in order."""
    items = (part.strip() for part in (value or "").split(","))
    return list(dict.fromkeys(item for item in items if item))


def parse_datetime(name: str, value: str, tz: ZoneInfo) -> datetime:
    """A W3C / ISO 8601 datetime (a date, or a year and month, will do); one
    without an offset is taken as the municipality's local time."""
    text = value.strip()
    try:
        if len(text) > DATE_MAX:
            raise ValueError(text)
        if re.fullmatch(r"\d{4}", text):
            text += "-01-01"
        elif re.fullmatch(r"\d{4}-\d{2}", text):
            text += "-01"
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Open311Error(400, f"{name} must be an ISO 8601 (W3C) datetime with an offset, "
                           "e.g. 2026-11-05T08:15:30+01:00 or 2026-11-05T07:15:30Z") from None


def date_window(start_date: str | None, end_date: str | None, tz: ZoneInfo,
                now: datetime) -> tuple[datetime, datetime]:
    """The requested_datetime window: the last 90 days by default; 90 days
    from start_date, or up to end_date, when only one is given; never wider."""
    start = parse_datetime("start_date", start_date, tz) if start_date else None
    end = parse_datetime("end_date", end_date, tz) if end_date else None
    try:
        if start is None and end is None:
            start, end = now - WINDOW, now
        elif start is None:
            assert end is not None
            start = end - WINDOW
        elif end is None:
            end = start + WINDOW
    except OverflowError:
        raise Open311Error(400, "start_date or end_date is out of range") from None
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > WINDOW:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return start, end


def _when(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment else None


def _public_item(row: Any, profile: Profile, locale: str) -> dict[str, Any]:
    """One service request as GeoReport v2 shows it, from the public columns."""
    found = service.category(profile, row.category)
    department = profile.department(row.department)
    tz = profile.tz
    return {
        "service_request_id": row.reference,
        "status": "closed" if row.status in CLOSED else "open",
        "status_notes": None,
        "service_name": found.label(locale) if found else row.category,
        "service_code": row.category,
        "description": row.public_description,
        "agency_responsible": department.label(locale) if department else row.department,
        "service_notice": None,
        "requested_datetime": _when(row.created_at, tz),
        "updated_datetime": _when(row.updated_at, tz),
        "expected_datetime": None,
        "address": row.public_address,
        "address_id": None,
        "zipcode": None,
        "lat": row.public_latitude,
        "long": row.public_longitude,
        "media_url": None,
    }


def public_requests(runtime: Runtime, *, references: Sequence[str] = (),
                    codes: Sequence[str] = (), states: Sequence[ComplaintStatus] = (),
                    window: tuple[datetime, datetime] | None = None,
                    locale: str, limit: int = LIMIT) -> list[dict[str, Any]]:
    """Published complaints only, newest first, at most `limit`."""
    stmt = select(*PUBLIC_COLUMNS).where(Complaint.published.is_(True))
    if references:
        stmt = stmt.where(Complaint.reference.in_(references))
    if codes:
        stmt = stmt.where(Complaint.category.in_(codes))
    if states:
        stmt = stmt.where(Complaint.status.in_(states))
    if window is not None:
        stmt = stmt.where(Complaint.created_at >= window[0], Complaint.created_at <= window[1])
    stmt = stmt.order_by(Complaint.created_at.desc(), Complaint.id.desc()).limit(limit)
    with runtime.db.read_session() as session:
        rows = session.execute(stmt).all()
    return [_public_item(row, runtime.profile, locale) for row in rows]


# --- reading ----------------------------------------------------------------------

@router.get("/discovery.json")
def discovery(request: Request, runtime: RuntimeDep,
              jurisdiction_id: Jurisdiction = None) -> JSONResponse:
    """Where the GeoReport v2 endpoint is, and whom to ask for a key."""
    profile = runtime.profile
    check_jurisdiction(profile, jurisdiction_id)
    base = runtime.settings.public_url
    root = (base.rstrip("/") if base else f"{request.url.scheme}://{request.url.netloc}")
    email = profile.localized_contact("email", "en")
    phone = profile.localized_contact("phone", "en")
    name = profile.municipality_name("en")
    return JSONResponse({
        "changeset": CHANGESET,
        "contact": ", ".join(part for part in (name, email, phone) if part),
        "key_service": f"API keys for filing requests are issued by the {name}"
                       + (f" ({email})" if email else "")
                       + "; ask, naming your application. Reading needs no key.",
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": f"{root}{PREFIX}",
            "changeset": CHANGESET,
            "type": "production",
            "formats": ["application/json"],
        }],
    })


@router.get("/services.json")
def services(runtime: RuntimeDep, locale: Locale = None,
             jurisdiction_id: Jurisdiction = None) -> JSONResponse:
    """One service per complaint category of the profile."""
    profile = runtime.profile
    check_jurisdiction(profile, jurisdiction_id)
    chosen = choose_locale(profile, locale)
    answer = []
    for found in profile.complaint_categories:
        department = profile.department(str(found.extra["department"]))
        names = dict.fromkeys([found.code, *(found.label(code)
                                             for code in profile.enabled_locales)])
        answer.append({
            "service_code": found.code,
            "service_name": found.label(chosen),
            "description": found.label(chosen),
            "metadata": False,
            "type": "realtime",
            "keywords": ", ".join(names),
            "group": department.label(chosen) if department else found.extra["department"],
        })
    return JSONResponse(answer)


@router.get("/services/{service_code}.json")
def service_definition(service_code: str, runtime: RuntimeDep,
                       jurisdiction_id: Jurisdiction = None) -> JSONResponse:
    """No service asks for extra attributes (every `metadata` is false)."""
    check_jurisdiction(runtime.profile, jurisdiction_id)
    if service.category(runtime.profile, service_code) is None:
        raise Open311Error(404, f"unknown service_code {service_code!r}; "
                           "see services.json")
    return JSONResponse({"service_code": service_code, "attributes": []})


@router.get("/requests.json")
def requests(
    runtime: RuntimeDep,
    service_request_id: Annotated[str | None, Query(
        description="Comma-separated references; when given, the other filters are ignored")
    ] = None,
    service_code: Annotated[str | None, Query(description="Comma-separated")] = None,
    start_date: Annotated[str | None, Query(description="ISO 8601 / W3C datetime")] = None,
    end_date: Annotated[str | None, Query(description="ISO 8601 / W3C datetime")] = None,
    status: Annotated[str | None, Query(description="open, closed; comma-separated")] = None,
    locale: Locale = None,
    jurisdiction_id: Jurisdiction = None,
) -> JSONResponse:
    """Approved complaints, newest first, at most 1,000, requested in the
    last 90 days unless start_date / end_date choose another window of at
    most 90 days."""
    profile = runtime.profile
    check_jurisdiction(profile, jurisdiction_id)
    chosen = choose_locale(profile, locale)
    references = [item.upper() for item in _listed(service_request_id)]
    if references:  # "This overrides all other arguments" (GeoReport v2)
        if len(references) > IDS_MAX:
            raise Open311Error(400, f"at most {IDS_MAX} service_request_id values at once")
        return JSONResponse(public_requests(runtime, references=references, locale=chosen))
    codes = _listed(service_code)
    unknown = [code for code in codes if service.category(profile, code) is None]
    if unknown:
        raise Open311Error(400, f"unknown service_code {', '.join(map(repr, unknown))}; "
                           "see services.json")
    states: list[ComplaintStatus] = []
    for value in _listed(status):
        if value.lower() == "open":
            states += OPEN_STATES
        elif value.lower() == "closed":
            states += sorted(CLOSED)
        else:
            raise Open311Error(400, f"unknown status {value!r}; choose open or closed")
    window = date_window(start_date, end_date, profile.tz, utcnow())
    return JSONResponse(public_requests(runtime, codes=codes, states=states, window=window,
                                        locale=chosen, limit=LIMIT))


@router.get("/requests/{service_request_id}.json")
def one_request(service_request_id: str, runtime: RuntimeDep, locale: Locale = None,
                jurisdiction_id: Jurisdiction = None) -> JSONResponse:
    """A list with the one request; 404 when there is none, or it is not approved."""
    check_jurisdiction(runtime.profile, jurisdiction_id)
    chosen = choose_locale(runtime.profile, locale)
    reference = service_request_id.strip().upper()
    found = public_requests(runtime, references=[reference], locale=chosen, limit=1)
    if not found:
        raise Open311Error(404, f"no public service request {service_request_id!r}")
    return JSONResponse(found)


# --- filing -----------------------------------------------------------------------

def _clean(value: str | None) -> str | None:
    text = (value or "").replace("\x00", "").strip()
    return text or None


def _location(lat: str | None, long: str | None,
              address: str | None) -> tuple[float | None, float | None, str | None]:
    if (lat is None) != (long is None):
        raise Open311Error(400, "give both lat and long, or address_string")
    latitude = longitude = None
    if lat is not None and long is not None:
        try:
            if max(len(lat), len(long)) > COORDINATE_MAX:
                raise ValueError(lat)
            latitude, longitude = float(lat), float(long)
        except ValueError:
            raise Open311Error(400, "lat and long must be decimal degrees (WGS84)") from None
        if not service.valid_location(latitude, longitude):
            raise Open311Error(400, "lat must be within -90..90 and long within -180..180")
    if address is not None and not (
            service.ADDRESS_MIN <= len(address) <= service.ADDRESS_MAX):
        raise Open311Error(400, f"address_string must be {service.ADDRESS_MIN}–"
                           f"{service.ADDRESS_MAX} characters")
    if latitude is None and address is None:
        raise Open311Error(400, "a location is required: lat and long, or address_string "
                           "(address_id is not supported)")
    return latitude, longitude, address


def _description(text: str | None) -> str:
    low, high = service.DESCRIPTION_MIN, service.DESCRIPTION_MAX
    if text is None or len(text) < low:
        raise Open311Error(400, f"description is required: {low}–{high} characters")
    if len(text) > high:
        raise Open311Error(400, f"description is too long: at most {high} characters")
    if not any(ch.isalnum() for ch in text):
        raise Open311Error(400, "description must contain letters or digits")
    return text


def _contact(email: str | None, first_name: str | None, last_name: str | None,
             phone: str | None) -> tuple[str | None, str | None, str | None]:
    if email is not None and (len(email) > EMAIL_MAX or not EMAIL.fullmatch(email)):
        raise Open311Error(400, f"email must be an email address of at most {EMAIL_MAX} "
                           "characters")
    name = " ".join(part for part in (first_name, last_name) if part) or None
    if name is not None and len(name) > NAME_MAX:
        raise Open311Error(400, f"first_name and last_name: at most {NAME_MAX} characters")
    if phone is not None and len(phone) > PHONE_MAX:
        raise Open311Error(400, f"phone: at most {PHONE_MAX} characters")
    return name, email, (normalize_phone(phone) or phone) if phone else None


@router.post("/requests.json", status_code=201)
def create_request(
    request: Request,
    runtime: RuntimeDep,
    now: Now,
    api_key: FormText = None,
    jurisdiction_id: FormText = None,
    service_code: FormText = None,
    lat: FormText = None,
    long: FormText = None,
    address_string: FormText = None,
    address_id: FormText = None,
    email: FormText = None,
    first_name: FormText = None,
    last_name: FormText = None,
    phone: FormText = None,
    description: FormText = None,
    media_url: FormText = None,
) -> JSONResponse:
    """File a complaint (application/x-www-form-urlencoded). It goes to the
    category's department and is public only once an officer approves it.
    `email`, `first_name`, `last_name` and `phone` are kept for staff and
    never published; `media_url`, `device_id`, `account_id` and attributes
    are ignored."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in FORM_TYPES:
        raise Open311Error(400, "send the request as application/x-www-form-urlencoded")
    profile = runtime.profile
    check_jurisdiction(profile, jurisdiction_id)
    with runtime.db.read_session() as session:
        key = authenticate(session, _clean(api_key))
        key_id = key.id if key else None
    if key_id is None:
        raise Open311Error(403, "a valid api_key is required (missing, unknown or revoked)")
    code = _clean(service_code)
    if code is None or service.category(profile, code) is None:
        raise Open311Error(400, f"unknown or missing service_code {code!r}; "
                           "see services.json")
    latitude, longitude, address = _location(_clean(lat), _clean(long),
                                             _clean(address_string))
    text = _description(_clean(description))
    name, contact_email, contact_phone = _contact(_clean(email), _clean(first_name),
                                                  _clean(last_name), _clean(phone))
    per_hour = runtime.settings.open311_requests_per_hour
    with runtime.db.session() as session:
        # The key's row locked: requests of one key sent at once are counted in turn.
        row = session.get(Open311Key, key_id, with_for_update=True)
        if row is None or row.revoked_at is not None:  # revoked meanwhile
            raise Open311Error(403, "a valid api_key is required (missing, unknown or "
                               "revoked)")
        wait = wait_before_filing(session, row, now=now, per_hour=per_hour)
        if wait is not None:
            log.warning("open311 client %s is over its %d requests per hour", row.name,
                        per_hour)
            raise Open311Error(429, f"this api_key may file at most {per_hour} service "
                               f"requests per hour; try again in {wait} seconds",
                               headers={"Retry-After": str(wait)})
        complaint = service.register_open311(
            session, profile, runtime.catalogs, client=row.name, category_code=code,
            description=text, latitude=latitude, longitude=longitude, address=address,
            contact_name=name, contact_email=contact_email, contact_phone=contact_phone,
            now=now)
        row.last_used_at = now
        reference = complaint.reference
    log.info("open311 client %s filed %s", row.name, reference)
    return JSONResponse([{"service_request_id": reference, "service_notice": None,
                          "account_id": None}], status_code=201)


# --- the app ----------------------------------------------------------------------

_FORMAT = re.compile(r"\.([A-Za-z0-9]+)$")


def _not_found(request: Request) -> str:
    suffix = _FORMAT.search(request.url.path)
    if suffix and suffix.group(1).lower() != "json":
        asked = request.url.path.rsplit("/", 1)[-1]
        return (f"only JSON is served: ask for {asked[:-len(suffix.group(1))]}json, "
                f"not {asked}")
    return "no such resource; see discovery.json and services.json"


def open311_app(runtime: Runtime) -> FastAPI:
    """The GeoReport v2 app, to be mounted at PREFIX on the main app."""
    app = FastAPI(title="Open311 GeoReport v2", openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.runtime = runtime
    app.include_router(router)
    # Public data: browser-based maps may read it; filing needs a key, not a browser.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"],
                       allow_credentials=False)

    @app.exception_handler(Open311Error)
    async def _ours(request: Request, exc: Open311Error) -> JSONResponse:
        return error_response(exc.status, exc.description, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = sorted({str(error.get("loc", ("", ""))[-1]) for error in exc.errors()})
        return error_response(400, f"invalid input: {', '.join(fields) or 'request'}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, _not_found(request))
        if exc.status_code == 405:
            return error_response(405, f"{request.method} is not allowed here")
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("open311: %s %s failed", request.method, request.url.path)
        return error_response(500, "server error; please try again later")

    return app
