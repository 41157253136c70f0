"""The production recipe (deploy/, docs/deploy.md) against the app it deploys.

An operator follows these files to the letter, so they must not drift from the
code: every setting the app reads is in the environment file with its real
default, the proxies pass every public path and never /metrics, the units
agree with each other, the nightly backup keeps the newest N and never eats
good backups when tonight's fails, and each config file passes its own tool
(`deploy/check`, skipped when the tool is not installed here).
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn.config
from starlette.routing import Mount

import bot.config
import bot.i18n
from bot.app import create_app
from bot.config import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ENV_EXAMPLE = DEPLOY / "klokot-bot.env.example"
SETTINGS = {name.upper() for name in Settings.model_fields}
# Read outside Settings, each by the code named: the test below checks that
# the code still reads it, so this list cannot keep a name nobody reads.
READ_ELSEWHERE = {
    "KLOKOT_LOCALES_DIR": bot.i18n,  # other .po files than the installed ones
    "FORWARDED_ALLOW_IPS": uvicorn.config,  # whose X-Forwarded-For uvicorn believes
}
LINE = re.compile(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$")


def env_lines() -> list[tuple[bool, str, str]]:
    """(set, NAME, value) of each `NAME=value` or `#NAME=value` line."""
    found = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = LINE.match(line)
        if match:
            found.append((match[1] == "", match[2], match[3]))
    return found


def test_the_environment_file_explains_every_setting_the_app_reads() -> None:
    named = {name for _, name, _ in env_lines()}
    assert SETTINGS - named == set(), "settings missing from deploy/klokot-bot.env.example"


def test_the_environment_file_names_nothing_the_app_does_not_read() -> None:
    named = {name for _, name, _ in env_lines()}
    assert named - SETTINGS - set(READ_ELSEWHERE) == set()
    for name, module in READ_ELSEWHERE.items():
        assert name in inspect.getsource(module), f"{name} is no longer read by {module.__name__}"


def test_the_defaults_the_environment_file_shows_are_the_apps_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A commented-out `#NAME=value` promises "unset means this value"."""
    for key in list(os.environ):
        if key.upper() in SETTINGS:
            monkeypatch.delenv(key)
    defaults = Settings(_env_file=None)
    for is_set, name, value in env_lines():
        if is_set or name not in SETTINGS or not value:
            continue
        monkeypatch.setenv(name, value)
        shown = Settings(_env_file=None)
        monkeypatch.delenv(name)
        field = name.lower()
        assert getattr(shown, field) == getattr(defaults, field), f"#{name}={value}"


def test_the_values_the_environment_file_sets_are_accepted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for is_set, name, value in env_lines():
        if is_set:
            monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert not settings.is_sqlite and not settings.outbox_in_web
    assert (settings.public_url or "").startswith("https://")
    assert settings.media_dir.is_relative_to(settings.data_dir)


def public_paths() -> tuple[list[str], list[str]]:
    """Caddy's path matchers, nginx's locations (`= /x` exact, `/x/` prefix)."""
    caddy = re.findall(r"^\s*path (.+)$", (DEPLOY / "Caddyfile").read_text(), re.M)
    nginx = re.findall(r"location (= )?(\S+)\s+\{\s*proxy_pass",
                       (DEPLOY / "nginx.conf").read_text())
    return ([p for line in caddy for p in line.split()],
            [("=" if exact else "") + path for exact, path in nginx])


def caddy_passes(path: str, patterns: list[str]) -> bool:
    return any(path.startswith(p[:-1]) if p.endswith("*") else path == p for p in patterns)


def nginx_passes(path: str, locations: list[str]) -> bool:
    return any(path == loc[1:] if loc.startswith("=") else path.startswith(loc)
               for loc in locations)


def route_paths(routes: Iterable[Any], prefix: str = "") -> Iterator[str]:
    """Every path the app serves, through included routers and mounts."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from route_paths(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Mount):
            yield prefix + route.path + "/"
        elif getattr(route, "path", None):
            yield prefix + route.path


def test_the_proxies_pass_every_public_path_and_never_the_metrics(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}", data_dir=tmp_path,
                              media_dir=tmp_path / "media", _env_file=None))
    served = set(route_paths(app.routes))
    assert "/webhooks/telegram" in served and "/metrics" in served
    caddy, nginx = public_paths()
    for path in served - {"/metrics"}:
        assert caddy_passes(path, caddy), f"deploy/Caddyfile does not pass {path}"
        assert nginx_passes(path, nginx), f"deploy/nginx.conf does not pass {path}"
    for path in ("/metrics", "/metrics/", "/.env", "/admin"):
        assert not caddy_passes(path, caddy) and not nginx_passes(path, nginx), path


def unit(name: str) -> str:
    return (DEPLOY / name).read_text()


def test_the_units_share_one_environment_file_user_and_data_directory() -> None:
    data_dir = dict((n, v) for _, n, v in env_lines())["DATA_DIR"]
    for name in ("klokot-bot-web@.service", "klokot-bot-worker.service",
                 "klokot-bot-backup.service"):
        text = unit(name)
        assert "EnvironmentFile=/etc/klokot-bot/klokot-bot.env\n" in text, name
        assert "User=klokot\n" in text and "NoNewPrivileges=yes\n" in text, name
        assert "ProtectSystem=strict\n" in text and "CapabilityBoundingSet=\n" in text, name
        assert f"StateDirectory={Path(data_dir).name}\n" in text, name
        assert "StateDirectoryMode=0700\n" in text, name
    web = unit("klokot-bot-web@.service")
    assert "Environment=OUTBOX_IN_WEB=false\n" in web and "--no-migrate" in web
    assert "--host 127.0.0.1 --port %i" in web
    ports = set(re.findall(r"127\.0\.0\.1:(\d+)", unit("Caddyfile")))
    assert ports and ports == set(re.findall(r"server 127\.0\.0\.1:(\d+)", unit("nginx.conf")))


def run_backup(root: Path, program: Path, keep: int, stamp: str,
               fail: bool = False) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "BACKUP_ROOT": str(root), "KEEP_BACKUPS": str(keep),
           "KLOKOT_BOT": str(program), "FAKE_STAMP": stamp, "FAIL": "1" if fail else ""}
    return subprocess.run(["bash", str(DEPLOY / "klokot-bot-backup")], env=env,
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def fake_backup_program(tmp_path: Path) -> Path:
    """Stands in for `klokot-bot backup DIR`; a real `date` names the folder,
    so the stamp is made unique by faking `date` too."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "klokot-bot"
    program.write_text('#!/bin/sh\n[ "$1" = backup ] || exit 9\nmkdir -p "$2"\n'
                       '[ -n "$FAIL" ] && { echo half > "$2/half"; exit 1; }\n'
                       'echo done > "$2/manifest.json"\n')
    fake_date = bin_dir / "date"
    fake_date.write_text('#!/bin/sh\necho "$FAKE_STAMP"\n')
    for path in (program, fake_date):
        path.chmod(0o755)
    return program


def test_the_nightly_backup_keeps_the_newest_and_never_eats_them_when_it_fails(
        tmp_path: Path, fake_backup_program: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{fake_backup_program.parent}:{os.environ['PATH']}")
    root = tmp_path / "backups"
    root.mkdir()
    nights = [f"2026-12-0{day}T023000Z" for day in range(1, 5)]
    for night in nights:
        done = run_backup(root, fake_backup_program, keep=2, stamp=night)
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in root.iterdir()) == nights[-2:]
    assert (root / nights[-1] / "manifest.json").read_text() == "done\n"

    failed = run_backup(root, fake_backup_program, keep=1, stamp="2026-12-05T023000Z",
                        fail=True)
    assert failed.returncode == 1 and "older backups left" in failed.stderr
    assert sorted(p.name for p in root.iterdir()) == nights[-2:]  # no half backup either

    refused = run_backup(root, fake_backup_program, keep=0, stamp="2026-12-06T023000Z")
    assert refused.returncode == 2 and sorted(p.name for p in root.iterdir()) == nights[-2:]


@pytest.mark.parametrize("check", ["caddy", "nginx", "systemd", "shell"])
def test_each_config_file_passes_its_own_tool(check: str) -> None:
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    path = f"/usr/local/sbin:/usr/sbin:/sbin:{os.environ.get('PATH', '')}"
    done = subprocess.run(["bash", str(DEPLOY / "check"), "--no-install", check],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": path})
    if done.returncode == 77:
        pytest.skip(f"{done.stdout.strip()} (deploy/check installs it; CI runs it)")
    assert done.returncode == 0, done.stdout + done.stderr
