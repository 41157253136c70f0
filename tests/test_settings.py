"""Settings an operator sets once: DATA_DIR moves everything kept on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("DATA_DIR", "KLOKOT_DATA_DIR", "DATABASE_URL", "MEDIA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_one_data_directory_holds_the_keys_the_database_and_the_media(
        bare_environment: pytest.MonkeyPatch) -> None:
    """The recipe used to need the same path twice (KLOKOT_DATA_DIR for the
    database and media, DATA_DIR for the keys); set only one of them and the
    keys went to one place, the database to another."""
    bare_environment.setenv("DATA_DIR", "/var/lib/klokot-bot")
    settings = Settings(_env_file=None)
    assert settings.data_dir == Path("/var/lib/klokot-bot")
    assert settings.database_url == "sqlite:////var/lib/klokot-bot/klokot.db"
    assert settings.media_dir == Path("/var/lib/klokot-bot/media")


def test_the_old_name_still_works_and_explicit_settings_win(
        bare_environment: pytest.MonkeyPatch) -> None:
    bare_environment.setenv("KLOKOT_DATA_DIR", "/srv/old")
    assert Settings(_env_file=None).database_url == "sqlite:////srv/old/klokot.db"
    bare_environment.setenv("DATABASE_URL", "postgresql+psycopg://klokot@/klokot")
    bare_environment.setenv("MEDIA_DIR", "/mnt/shared/media")
    settings = Settings(_env_file=None)
    assert settings.data_dir == Path("/srv/old")
    assert settings.database_url == "postgresql+psycopg://klokot@/klokot"
    assert settings.media_dir == Path("/mnt/shared/media")


def test_make_run_keeps_everything_in_data_under_the_checkout(
        bare_environment: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite:///data/klokot.db"
    assert settings.media_dir == Path("data/media")
