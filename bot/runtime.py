"""Everything a process builds once: settings, profile, catalogs, routes,
database, engine and the providers of the configured channels. The web app,
the worker, the poller and the terminal chat all start from here, so none of
it is ever built on the per-update path."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import anyio.to_thread

from bot import clock as clocks
from bot.channels.base import MediaSource, Provider, RateLimits
from bot.channels.media_hosts import MediaHosts
from bot.channels.sms import SmsProvider
from bot.channels.telegram import TelegramProvider
from bot.channels.viber import ViberProvider
from bot.clock import Clock
from bot.config import Settings, get_settings
from bot.db import Database
from bot.engine.dispatcher import Engine
from bot.engine.router import RouterSet
from bot.filestore import FileStore
from bot.i18n import Catalogs
from bot.profile import Profile, load_profile
from bot.services.surveys import Keys

if TYPE_CHECKING:
    from bot.services.photos import PhotoFetcher
    from bot.services.voice import VoiceFetcher

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Runtime:
    settings: Settings
    profile: Profile
    catalogs: Catalogs
    routes: RouterSet
    db: Database
    engine: Engine
    telegram: TelegramProvider | None = None
    viber: ViberProvider | None = None
    sms: SmsProvider | None = None
    providers: dict[str, Provider] = field(default_factory=dict)
    # SQLite takes one writer at a time (`Database.session` queues them on a
    # lock): the updates are handled on one thread of their own, in the order
    # they came, instead of a pool of threads each waking to wait its turn.
    _writer: ThreadPoolExecutor | None = field(default=None, repr=False)

    async def handle_off_loop(self, work: functools.partial[T]) -> T:
        """Run the engine's synchronous `work` off the event loop (with the
        request's context, so its log lines keep the request id): on SQLite on
        the one writer thread, on PostgreSQL on the shared thread pool."""
        if not self.db.is_sqlite:
            return await anyio.to_thread.run_sync(work)
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._writer, functools.partial(context.run, work))

    @property
    def clock(self) -> Clock:
        """The process's one clock (`bot.clock`), which the web routes, the
        engine's `Context.now` and the worker's timers and sender all read."""
        return clocks.current()

    @property
    def survey_keys(self) -> Keys:
        """What recognises a survey's participants (the engine's keys), for
        the staff actions that must know who answered: the invitations."""
        return Keys(survey=self.engine.survey_key, legacy=self.engine.files.secret)

    def media_sources(self, *, terminal: bool = False) -> dict[str, MediaSource]:
        """The channels this process can fetch what citizens sent from (and
        the terminal's local files in `klokot-bot chat`)."""
        from bot.channels.terminal import LocalFiles

        sources: dict[str, MediaSource] = {}
        if self.telegram is not None:
            sources["telegram"] = self.telegram
        if self.viber is not None:
            sources["viber"] = self.viber
        if terminal:
            sources["terminal"] = LocalFiles()
        return sources

    def photo_fetcher(self, *, terminal: bool = False) -> PhotoFetcher | None:
        """The worker's downloader of complaint photos."""
        from bot.services.photos import PhotoFetcher

        sources = self.media_sources(terminal=terminal)
        if not sources:
            return None
        return PhotoFetcher(self.db, sources, self.settings.media_dir, self.profile,
                            self.catalogs, deadline=self.settings.media_fetch_seconds)

    def voice_fetcher(self, *, terminal: bool = False) -> VoiceFetcher | None:
        """The worker's downloader of voice messages: the same sources and deadline."""
        from bot.services.voice import VoiceFetcher

        sources = self.media_sources(terminal=terminal)
        if not sources:
            return None
        return VoiceFetcher(self.db, sources, self.settings.media_dir, self.profile,
                            self.catalogs, deadline=self.settings.media_fetch_seconds)

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        self.db.dispose()


def telegram_provider(settings: Settings, token: str) -> TelegramProvider:
    return TelegramProvider(
        token, settings.telegram_api_url,
        RateLimits(settings.telegram_rate_per_second, settings.telegram_chat_rate_per_second,
                   settings.telegram_chat_burst),
        timeout=settings.platform_timeout_seconds,
    )


def viber_provider(settings: Settings, token: str,
                   names: dict[str, str] | None = None) -> ViberProvider:
    """`names`: the sender name in each language (the profile's municipality
    name); VIBER_BOT_NAME is used when the reader's language is not known."""
    return ViberProvider(
        token, settings.viber_api_url, settings.viber_bot_name,
        RateLimits(settings.viber_rate_per_second, settings.viber_chat_rate_per_second,
                   settings.viber_chat_burst),
        avatar=settings.viber_bot_avatar, media_hosts=MediaHosts(settings.media_hosts),
        timeout=settings.platform_timeout_seconds, sender_names=names,
    )


def sms_provider(settings: Settings, profile: Profile) -> SmsProvider:
    """Twilio from the municipality's number; deliveries reported to
    PUBLIC_URL/webhooks/sms/status."""
    assert settings.twilio_account_sid and settings.twilio_auth_token
    assert settings.twilio_from_number
    return SmsProvider(
        settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from_number,
        api_url=settings.twilio_api_url, status_callback=settings.twilio_status_callback_url,
        limits=RateLimits(settings.twilio_rate_per_second, settings.twilio_rate_per_second, 1),
        plain_letters=profile.sms.plain_letters(),
        timeout=settings.platform_timeout_seconds,
    )


def build_runtime(settings: Settings | None = None, *, db: Database | None = None,
                  quiet: bool = False, clock: Clock | None = None) -> Runtime:
    """`clock`, when given, becomes the process's clock (a bench or a test
    running the bot at a chosen time of day); otherwise the process keeps its
    own, the system's."""
    from handlers import build_routes  # handlers import the engine, not the other way

    if clock is not None:
        clocks.install(clock)
    settings = settings or get_settings()
    profile = load_profile(settings.profile_path)
    catalogs = Catalogs(profile.enabled_locales)
    routes = build_routes()
    if db is None:
        if settings.is_sqlite:
            settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        db = Database(settings.database_url)
    files = FileStore(settings.media_dir, settings.public_url, settings.resolved_secret_key())
    engine = Engine(db, profile, catalogs, routes, files, settings.resolved_survey_key())
    runtime = Runtime(settings, profile, catalogs, routes, db, engine)
    if settings.telegram_bot_token:
        runtime.telegram = telegram_provider(settings, settings.telegram_bot_token)
        runtime.providers["telegram"] = runtime.telegram
    elif not quiet:
        log.info("Telegram disabled: TELEGRAM_BOT_TOKEN is not set")
    if settings.viber_auth_token:
        runtime.viber = viber_provider(settings, settings.viber_auth_token, profile.name)
        runtime.providers["viber"] = runtime.viber
    elif not quiet:
        log.info("Viber disabled: VIBER_AUTH_TOKEN is not set")
    if settings.sms_configured and profile.sms.enabled:
        runtime.sms = sms_provider(settings, profile)
        runtime.providers["sms"] = runtime.sms
    elif not quiet:
        log.info("SMS disabled: %s", "the profile's [sms] is not enabled"
                 if settings.sms_configured else
                 "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER are not all set")
    return runtime


def freeze_startup_objects() -> None:
    """Take what start-up made (modules, settings, the app and its runtime: some
    200,000 objects that live as long as the process) out of the cyclic
    collector's sight. A full collection walked them all, a pause of 70-190 ms
    in whichever citizen's reply was under way. Called by the long-running
    commands only: tests make many apps, whose cycles must stay collectable."""
    gc.collect()
    gc.freeze()

