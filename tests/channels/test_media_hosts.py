"""Media URLs from a webhook are fetched only from the allowed media hosts
(#13, item 6): a stranger who names a URL on another host, a redirect to
one, or a name that resolves to a loopback, private or link-local address
gets nothing fetched — and the citizen's answer is the one for a photo that
is simply unavailable, so it tells a prober nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.channels import media_hosts
from bot.channels.base import MediaRefused
from bot.channels.media_hosts import DEFAULT_MEDIA_HOSTS, MediaHosts, is_public
from bot.config import Settings
from bot.db import Database
from bot.models import ComplaintPhoto, OutboxMessage, PhotoStatus
from bot.runtime import Runtime
from tests.channels.conftest import VIBER_TOKEN
from tests.factories import jpeg_bytes, make_pending_photo, make_runtime
from tests.fakes.media_host import FakeMediaHost
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.viber_api import FakeViberAPI

HANG_GUARD = 20.0


@pytest.fixture
def media_host() -> Iterator[FakeMediaHost]:
    with FakeMediaHost() as server:
        yield server


@pytest.fixture
def other_host() -> Iterator[FakeMediaHost]:
    with FakeMediaHost() as server:
        yield server


def viber_runtime(db: Database, tmp_path: Path, viber: FakeViberAPI, allowed: str) -> Runtime:
    return make_runtime(db, data_dir=tmp_path, viber_auth_token=VIBER_TOKEN,
                        viber_api_url=f"{viber.url}/pa", media_hosts=allowed)


async def fetch_all(runtime: Runtime) -> None:
    fetcher = runtime.photo_fetcher()
    assert fetcher is not None
    try:
        await asyncio.wait_for(fetcher.run_once(), HANG_GUARD)
    finally:
        await runtime.close()


def photos(db: Database) -> list[ComplaintPhoto]:
    with db.read_session() as session:
        rows = list(session.scalars(select(ComplaintPhoto).order_by(ComplaintPhoto.id)))
        session.expunge_all()
        return rows


def told(db: Database) -> list[str]:
    with db.read_session() as session:
        return [row.body["text"] for row in session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id))]


# --- hosts not allowed are never asked -------------------------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/media/p.jpg",       # the review's loopback URL
    "http://localhost:{port}/media/p.jpg",
    "http://[::1]:{port}/media/p.jpg",
    "http://0.0.0.0:{port}/media/p.jpg",
    "http://user:pw@127.0.0.1:{port}/media/p.jpg",
])
async def test_a_url_on_a_host_not_allowed_is_never_requested(
        db: Database, viber: FakeViberAPI, media_host: FakeMediaHost, tmp_path: Path,
        url: str) -> None:
    media_host.add("p.jpg", jpeg_bytes())
    port = media_host.netloc.rsplit(":", 1)[1]
    make_pending_photo(db, url.format(port=port))
    await fetch_all(viber_runtime(db, tmp_path, viber, DEFAULT_MEDIA_HOSTS))
    assert media_host.requests == []
    [photo] = photos(db)
    assert photo.status is PhotoStatus.failed and "refused" in (photo.error or "")


async def test_the_allowed_host_is_fetched(db: Database, viber: FakeViberAPI,
                                           media_host: FakeMediaHost, tmp_path: Path) -> None:
    make_pending_photo(db, media_host.add("p.jpg", jpeg_bytes(30, 20)))
    await fetch_all(viber_runtime(db, tmp_path, viber, media_host.netloc))
    [photo] = photos(db)
    assert photo.status is PhotoStatus.stored and media_host.requests == ["/media/p.jpg"]


# --- redirects --------------------------------------------------------------------

@pytest.mark.parametrize("to", [
    "http://localhost:{port}/media/p.jpg",        # the same server under a name
    "http://127.0.0.1:{other}/media/p.jpg",        # another server on loopback
    "http://169.254.169.254/latest/meta-data/",    # the cloud's metadata address
    "http://10.0.0.7/admin",
])
async def test_a_redirect_to_a_host_not_allowed_is_refused(
        db: Database, viber: FakeViberAPI, media_host: FakeMediaHost,
        other_host: FakeMediaHost, tmp_path: Path, to: str) -> None:
    media_host.add("p.jpg", jpeg_bytes())
    other_host.add("p.jpg", jpeg_bytes())
    port = media_host.netloc.rsplit(":", 1)[1]
    other = other_host.netloc.rsplit(":", 1)[1]
    make_pending_photo(db, media_host.redirect("r", to.format(port=port, other=other)))
    await fetch_all(viber_runtime(db, tmp_path, viber, media_host.netloc))
    assert media_host.requests == ["/redirect/r"]  # the hop is never requested
    assert other_host.requests == []
    [photo] = photos(db)
    assert photo.status is PhotoStatus.failed and "not allowed" in (photo.error or "")


async def test_a_redirect_within_the_allowed_host_is_followed(
        db: Database, viber: FakeViberAPI, media_host: FakeMediaHost, tmp_path: Path) -> None:
    media_host.add("p.jpg", jpeg_bytes())
    make_pending_photo(db, media_host.redirect("r", "/media/p.jpg"))
    await fetch_all(viber_runtime(db, tmp_path, viber, media_host.netloc))
    assert media_host.requests == ["/redirect/r", "/media/p.jpg"]
    assert photos(db)[0].status is PhotoStatus.stored


async def test_redirects_are_followed_three_times_at_most(
        db: Database, viber: FakeViberAPI, media_host: FakeMediaHost, tmp_path: Path) -> None:
    for hop in range(5):
        media_host.redirect(f"r{hop}", f"/redirect/r{hop + 1}")
    make_pending_photo(db, f"{media_host.url}/redirect/r0")
    await fetch_all(viber_runtime(db, tmp_path, viber, media_host.netloc))
    assert media_host.requests == [f"/redirect/r{hop}" for hop in range(4)]
    assert photos(db)[0].status is PhotoStatus.failed


# --- names that resolve to addresses that are not public ----------------------------

@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1",
                                     "192.168.1.10", "0.0.0.0", "::ffff:127.0.0.1",
                                     "fe80::1", "224.0.0.1", "100.64.0.1"])
async def test_an_allowed_name_resolving_to_a_non_public_address_is_refused(
        db: Database, viber: FakeViberAPI, media_host: FakeMediaHost, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return [address]

    monkeypatch.setattr(media_hosts, "resolve_host", resolve)
    port = media_host.netloc.rsplit(":", 1)[1]
    make_pending_photo(db, f"https://media.klokot.test:{port}/media/p.jpg")
    await fetch_all(viber_runtime(db, tmp_path, viber, f"*.klokot.test:{port}"))
    assert asked == ["media.klokot.test"]
    assert media_host.requests == []
    [photo] = photos(db)
    assert photo.status is PhotoStatus.failed and "non-public" in (photo.error or "")


async def test_one_non_public_address_among_public_ones_is_enough_to_refuse(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "127.0.0.1"]

    monkeypatch.setattr(media_hosts, "resolve_host", resolve)
    with pytest.raises(MediaRefused, match="non-public"):
        await MediaHosts("*.viber.com").target("https://dl-media.viber.com/p.jpg")


async def test_the_connection_goes_to_the_address_that_was_checked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No second lookup a rebinding DNS could answer with 127.0.0.1."""
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]

    monkeypatch.setattr(media_hosts, "resolve_host", resolve)
    target = await MediaHosts(DEFAULT_MEDIA_HOSTS).target(
        "https://dl-media.viber.com/1/share/p.jpg?x=1")
    assert target.url == httpx.URL("https://93.184.215.14/1/share/p.jpg?x=1")
    assert target.headers == {"Host": "dl-media.viber.com"}
    assert target.extensions == {"sni_hostname": "dl-media.viber.com"}


@pytest.mark.parametrize("url", ["http://dl-media.viber.com/p.jpg",  # names: https only
                                 "https://dl-media.viber.com:8443/p.jpg",
                                 "https://viber.com.evil.test/p.jpg",
                                 "https://evilviber.com/p.jpg",
                                 "ftp://dl-media.viber.com/p.jpg",
                                 "file:///etc/passwd"])
async def test_the_default_list_allows_only_viber_media_over_https(url: str) -> None:
    with pytest.raises(MediaRefused):
        await MediaHosts(DEFAULT_MEDIA_HOSTS).target(url)


@pytest.mark.parametrize("entry", ["*", "*.com", "http://x.viber.com", "x.viber.com/p",
                                   "x.viber.com:0", "x.viber.com:http", "a b.viber.com"])
def test_an_unclear_media_hosts_entry_stops_the_start(entry: str) -> None:
    with pytest.raises(ValueError, match="MEDIA_HOSTS"):
        MediaHosts(entry)


def test_the_default_setting_is_the_default_list() -> None:
    assert Settings(_env_file=None).media_hosts == DEFAULT_MEDIA_HOSTS


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.215.14", True), ("2a03:2880:f12f:83:face:b00c::25de", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("172.16.0.1", False),
    ("169.254.169.254", False), ("::1", False), ("fd00::1", False), ("0.0.0.0", False),
    ("255.255.255.255", False), ("::ffff:10.0.0.1", False), ("240.0.0.1", False)])
def test_public_addresses(address: str, public: bool) -> None:
    import ipaddress

    assert is_public(ipaddress.ip_address(address)) is public


# --- no oracle ---------------------------------------------------------------------

async def test_the_citizen_hears_the_same_for_a_refused_and_an_unavailable_photo(
        db: Database, viber: FakeViberAPI, media_host: FakeMediaHost,
        other_host: FakeMediaHost, tmp_path: Path) -> None:
    """The review's prober learnt "not an image" (something answered there)
    from "unavailable" (nothing did); a refused URL now reads like a photo
    that is gone from the allowed host."""
    other_host.add("index.html", b"<html>an intranet page</html>")
    refused = make_pending_photo(db, f"{other_host.url}/media/index.html")
    gone = make_pending_photo(db, f"{media_host.url}/media/missing.jpg")  # 404
    await fetch_all(viber_runtime(db, tmp_path, viber, media_host.netloc))
    assert other_host.requests == [] and media_host.requests == ["/media/missing.jpg"]
    assert [p.status for p in photos(db)] == [PhotoStatus.failed] * 2
    messages = told(db)
    assert len(messages) == 2
    by_reference: dict[str, Any] = {ref: next(m for m in messages if ref in m)
                                    for ref in (refused, gone)}
    assert (by_reference[refused].replace(refused, "REF")
            == by_reference[gone].replace(gone, "REF"))


# --- Telegram -----------------------------------------------------------------------

async def test_telegram_files_come_only_from_the_telegram_api(
        db: Database, tg: FakeTelegramAPI, tmp_path: Path) -> None:
    """python-telegram-bot reads a getFile `file_path` naming a file on this
    machine straight from the disk; only TELEGRAM_API_URL's file URLs are read."""
    local = tmp_path / "server-secret.jpg"
    local.write_bytes(jpeg_bytes())
    tg.set_result("getFile", {"file_id": "AgAC-x", "file_unique_id": "u-x",
                              "file_path": str(local)})
    make_pending_photo(db, None, channel="telegram", file_id="AgAC-x")
    runtime = make_runtime(db, data_dir=tmp_path, telegram_bot_token=tg.token,
                           telegram_api_url=tg.url)
    await fetch_all(runtime)
    [photo] = photos(db)
    assert photo.status is PhotoStatus.failed
    assert "TELEGRAM_API_URL" in (photo.error or "")
