"""Settings from the environment (SPEC §4), in one class.

Names are fixed by the spec because deployments and scripts rely on them.
"""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR = Path("data")  # relative to the working directory, as `make run` wants
# Values found in templates and tutorials; a server started with one of them
# would sign with a key the whole internet knows.
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "CHANGE_ME", "your-secret-key"})


def tile_host(url: str) -> str | None:
    """The CSP source of a tile URL (`https://tile.openstreetmap.org`; a
    `{s}` subdomain is `*`), or None when it is not an http(s) URL with a
    plain host name."""
    parts = urlsplit(url.replace("{s}", "s-placeholder"))
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not re.fullmatch(r"[a-z0-9.-]+", host) \
            or parts.username or parts.password:
        return None
    host = host.replace("s-placeholder", "*")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number
        return None
    return f"{parts.scheme}://{host}{port}"


class Settings(BaseSettings):
    """Every knob of SPEC §4; unset tokens simply disable their channel."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = Field(default=f"sqlite:///{DATA_DIR / 'klokot.db'}")
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str | None = None
    # The key of the survey markers (one answer per person): its own, so that
    # a new SECRET_KEY does not let everyone answer again.
    survey_key: str | None = None
    metrics_token: str | None = None
    profile_path: Path | None = None
    media_dir: Path = DATA_DIR / "media"
    # One directory moves everything kept on disk: the keys, and the defaults of
    # DATABASE_URL (its klokot.db) and MEDIA_DIR (its media/). KLOKOT_DATA_DIR is
    # the old name, still read.
    data_dir: Path = Field(default=DATA_DIR,
                           validation_alias=AliasChoices("data_dir", "klokot_data_dir"))
    outbox_in_web: bool = True
    # `klokot-bot serve`'s web processes when --workers is not given (the
    # name uvicorn, gunicorn and most platforms use); more than 1 needs PostgreSQL.
    web_concurrency: int = Field(default=1, ge=1)

    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_url: str = "https://api.telegram.org"

    viber_auth_token: str | None = None
    viber_api_url: str = "https://chatapi.viber.com/pa"
    viber_bot_name: str = "Opština Klokot"
    viber_bot_avatar: str | None = None

    public_url: str | None = None

    # SMS through Twilio: all three of the account SID, its auth token and the
    # municipality's number (E.164) turn the channel on. TWILIO_API_URL is the
    # REST API's base URL (the tests' fake of it; a regional edge if needed).
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    twilio_rate_per_second: float = 1.0

    # Complaint photos: the longest one download may take, start to end, and
    # the only hosts media URLs from a webhook are fetched from (comma-separated
    # names, *.domain wildcards or IP addresses, each optionally with :port; a
    # non-public address is allowed only when written here as an IP address —
    # see bot/channels/media_hosts.py).
    media_fetch_seconds: float = 30.0
    media_hosts: str = "dl-media.viber.com,*.viber.com"

    # Open311: service requests one client's key may file in any hour.
    open311_requests_per_hour: int = Field(default=30, ge=1)

    # Sender tuning: platform limits (messages per second).
    telegram_rate_per_second: float = 30.0
    telegram_chat_rate_per_second: float = 1.0
    telegram_chat_burst: int = 3
    viber_rate_per_second: float = 30.0
    viber_chat_rate_per_second: float = 1.0
    viber_chat_burst: int = 3
    sender_batch_size: int = 200
    sender_max_attempts: int = 8
    sender_lease_seconds: float = 15.0
    # At most this many messages on the wire at once (sent, outcome not yet
    # stored): what a crash of the sender can send twice.
    sender_concurrency: int = 32
    sender_backoff_seconds: float = 2.0  # first wait after a platform fault; doubles
    platform_timeout_seconds: float = 15.0  # a platform's answer to one request

    # Staff sign-in.
    staff_token_hours: float = 8.0
    staff_idle_minutes: float = 30.0  # a browser session unused this long ends
    login_max_failures: int = 5  # wrong passwords in a row for a name from one address
    login_lock_minutes: float = 15.0  # … lock that name from that address this long
    login_address_limit: int = 20  # attempts from one address, whatever the names …
    login_address_window_minutes: float = 15.0  # … in this long
    login_account_limit: int = 50  # wrong passwords for a name from all addresses …
    login_account_window_minutes: float = 60.0  # … in this long
    login_concurrency: int = 2  # passwords checked at once per web process
    login_delay_seconds: float = 0.5

    # The staff complaints map: where its background tiles come from ({z},
    # {x}, {y}, optionally {s} for a subdomain) and the attribution the tile
    # provider asks for (HTML). The pages' Content-Security-Policy allows
    # images from exactly this host; empty means no tiles (markers on a
    # blank background).
    map_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_tile_attribution: str = (
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
        "contributors")

    log_level: str = "INFO"
    # "text" (one line for a person) or "json" (one JSON object per line, for
    # a log shipper); either way each line inside a request carries its id.
    log_format: Literal["text", "json"] = "text"

    @model_validator(mode="after")
    def _defaults_inside_the_data_directory(self) -> Settings:
        """DATABASE_URL and MEDIA_DIR left unset live in DATA_DIR, wherever it is."""
        if "database_url" not in self.model_fields_set:
            self.database_url = f"sqlite:///{self.data_dir / 'klokot.db'}"
        if "media_dir" not in self.model_fields_set:
            self.media_dir = self.data_dir / "media"
        return self

    @field_validator("map_tile_url")
    @classmethod
    def _tile_url(cls, value: str) -> str:
        """A tile URL is https (or http) with {z}, {x} and {y}: anything else
        would put a wrong host into the CSP or show no map."""
        value = value.strip()
        if value and (tile_host(value) is None
                      or not all(part in value for part in ("{z}", "{x}", "{y}"))):
            raise ValueError("MAP_TILE_URL is an http(s) URL with {z}, {x} and {y}, "
                             "e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png, or empty")
        return value

    @property
    def sms_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token
                    and self.twilio_from_number)

    @property
    def twilio_status_callback_url(self) -> str | None:
        """Where Twilio reports each SMS's delivery (PUBLIC_URL + the route)."""
        if not self.public_url:
            return None
        return self.public_url.rstrip("/") + "/webhooks/sms/status"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolved_secret_key(self) -> str:
        """The signing key: the configured one, or one generated once and kept
        in the data directory (mode 0600) so that `make run` needs no setup."""
        return self._resolved_key(self.secret_key, "SECRET_KEY", "secret_key")

    def resolved_survey_key(self) -> str:
        """The key of the survey markers (`bot.services.surveys.marker`):
        SURVEY_KEY, or one generated once into the data directory beside (and
        apart from) the secret key. Changing it lets everyone answer every
        open survey again."""
        return self._resolved_key(self.survey_key, "SURVEY_KEY", "survey_key")

    def _resolved_key(self, configured: str | None, name: str, file_name: str) -> str:
        if configured:
            if configured in PLACEHOLDER_SECRETS or len(configured) < 16:
                raise ValueError(
                    f"{name} is a placeholder or shorter than 16 characters; "
                    "set a random value or leave it unset to generate one"
                )
            return configured
        path = self.data_dir / file_name
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written whole under another name, then linked into place: the web
        # process and the worker starting together both end up with the key
        # that was linked first, never with a half-written file.
        draft = path.with_name(f".{file_name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
