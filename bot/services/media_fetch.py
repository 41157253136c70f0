"""What the worker's two media fetchers share (complaint photos in
`bot.services.photos`, voice messages in `bot.services.voice`): claim due
rows for a while so that a second worker leaves them alone, download each
side by side within one overall deadline, and back off after a failure.
Each fetcher says what it claims, how it checks the bytes and where it
keeps them."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Generic, TypeVar

from bot.channels.base import MediaSource
from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.profile import Profile

MAX_BYTES = 10 * 1024 * 1024
MAX_ATTEMPTS = 6
CLAIM_SECONDS = 120  # more than the deadline: a claimed row is never fetched twice at once
DEADLINE_SECONDS = 30.0

Job = TypeVar("Job")


def retry_at(attempts: int) -> datetime:
    """When a download that failed `attempts` times is tried again."""
    return utcnow() + timedelta(seconds=30 * 2 ** attempts)


class MediaFetcher(Generic[Job]):
    """Run by the worker (the sender's lease holder) every few seconds, in a
    task of its own, and by `klokot-bot chat` after each line."""

    def __init__(self, db: Database, sources: dict[str, MediaSource], media_dir: Path,
                 profile: Profile, catalogs: Catalogs, batch: int = 10,
                 deadline: float = DEADLINE_SECONDS) -> None:
        self.db = db
        self.sources = sources
        self.media_dir = media_dir
        self.profile = profile
        self.catalogs = catalogs
        self.batch = batch
        self.deadline = deadline

    async def run_once(self, now: datetime | None = None) -> int:
        """Fetch what is due, side by side (each within its deadline);
        returns how many were tried."""
        jobs = await asyncio.to_thread(self._claim, now or utcnow())
        await asyncio.gather(*(self._fetch(job) for job in jobs))
        return len(jobs)

    def _claim(self, now: datetime) -> list[Job]:
        raise NotImplementedError

    async def _fetch(self, job: Job) -> None:
        raise NotImplementedError

    def claim_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=CLAIM_SECONDS)

    async def download(self, channel: str, file_id: str | None, url: str | None) -> bytes:
        """The platform's bytes, within the deadline from the first byte asked
        to the last one read (TimeoutError when it has passed)."""
        limit = asyncio.timeout(self.deadline)
        try:
            async with limit:
                return await self.sources[channel].fetch_media(file_id, url, MAX_BYTES)
        except TimeoutError:
            if limit.expired():
                raise TimeoutError(f"deadline: not downloaded within {self.deadline:g} s"
                                   ) from None
            raise
