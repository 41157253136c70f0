"""Real processes: several `klokot-bot worker`s elect one sender, and
`klokot-bot serve` answers a Telegram update end to end with its own sender."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.db import Database
from bot.models import ComplaintPhoto, InboundUpdate, OutboxMessage, OutboxStatus, PhotoStatus
from bot.outbox import lease
from tests.factories import make_pending_photo
from tests.fakes._base import Call
from tests.fakes.media_host import FakeMediaHost
from tests.fakes.telegram_api import FakeTelegramAPI, tg_command_update
from tests.fakes.viber_api import FakeViberAPI
from tests.outbox.test_sender import make_account, queue

SECRET = "process-test-secret-12345"


def env_for(db: Database, tg: FakeTelegramAPI, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM", "VIBER"))}
    env.update(
        DATABASE_URL=db.url, TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.url,
        TELEGRAM_WEBHOOK_SECRET=SECRET, KLOKOT_DATA_DIR=str(data_dir),
        SECRET_KEY="process-test-secret-key-0123456789", SENDER_LEASE_SECONDS="2",
        TELEGRAM_CHAT_BURST="50", LOG_LEVEL="WARNING", **extra,
    )
    return env


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def tg() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as server:
        yield server


def test_several_workers_deliver_each_message_once(db: Database, tg: FakeTelegramAPI,
                                                   data_dir: Path) -> None:
    accounts = [make_account(db, str(9000 + i)) for i in range(10)]
    for account in accounts:
        queue(db, account, *(f"m{account}-{n}" for n in range(3)))
    workers = [spawn(["worker"], env_for(db, tg, data_dir)) for _ in range(3)]
    try:
        tg.wait_for(30, method="sendMessage", timeout=30)
        time.sleep(1.0)  # would a second sender add duplicates?
    finally:
        stop(workers)
    texts = Counter(call.params["text"] for call in tg.delivered("sendMessage"))
    assert len(texts) == 30
    assert set(texts.values()) == {1}
    with db.read_session() as session:
        sent = session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.sent))
    assert sent == 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(server: subprocess.Popen[bytes], base: str) -> None:
    """Until `serve` answers /healthz; what it printed, should it die first."""
    output = server.stderr or server.stdout
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert server.poll() is None, output.read() if output else ""
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.2)


def test_three_web_processes_and_a_worker_handle_each_update_once(
        db: Database, tg: FakeTelegramAPI, data_dir: Path) -> None:
    """The production shape (#15, item 7): three web processes behind a proxy and
    one worker on PostgreSQL. Each update is posted to two of the web processes
    at once, as a platform redelivering to another one would: each is handled
    once, and each citizen gets one welcome."""
    if db.is_sqlite:
        pytest.skip("several web processes are for PostgreSQL")
    env = env_for(db, tg, data_dir, OUTBOX_IN_WEB="false")
    ports = [free_port() for _ in range(3)]
    servers = [spawn(["serve", "--no-migrate", "--port", str(port)], env) for port in ports]
    worker = spawn(["worker"], env)
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    citizens = [7100 + i for i in range(30)]
    try:
        for server, base in zip(servers, bases, strict=True):
            wait_until_serving(server, base)
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        with httpx.Client(timeout=30) as client:
            for n, user in enumerate(citizens):
                update = tg_command_update(5000 + n, user)
                for base in (bases[n % 3], bases[(n + 1) % 3]):  # delivered twice
                    assert client.post(f"{base}/webhooks/telegram", json=update,
                                       headers=headers).status_code == 200
        tg.wait_for(len(citizens), method="sendMessage", timeout=60)
        deadline = time.monotonic() + 30
        while True:  # until the worker has recorded every outcome
            with db.read_session() as session:
                statuses = Counter(session.scalars(select(OutboxMessage.status)))
            if statuses.get(OutboxStatus.sent, 0) >= len(citizens) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        stop([*servers, worker])
    with db.read_session() as session:
        handled = session.scalar(select(func.count()).select_from(InboundUpdate))
    assert handled == len(citizens)
    assert statuses == {OutboxStatus.sent: len(citizens)}  # one welcome each, all sent
    welcomed = Counter(int(call.params["chat_id"]) for call in tg.delivered("sendMessage"))
    assert welcomed == dict.fromkeys(citizens, 1)


def test_serve_answers_a_webhook_and_sends_the_reply(db: Database, tg: FakeTelegramAPI,
                                                     data_dir: Path) -> None:
    port = free_port()
    server = spawn(["serve", "--port", str(port)], env_for(db, tg, data_dir))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(server, base)
        response = httpx.post(f"{base}/webhooks/telegram", json=tg_command_update(1, 4242),
                              headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert response.status_code == 200
        [call] = tg.wait_for(1, method="sendMessage", timeout=15)
        assert str(call.params["chat_id"]) == "4242"
        assert "lang:en" in str(call.params["reply_markup"])
    finally:
        stop([server])


def test_the_worker_stops_on_sigterm_while_a_download_trickles(
        db: Database, tg: FakeTelegramAPI, data_dir: Path) -> None:
    """#13, item 5: a photo URL answering one byte at a time made the worker
    ignore SIGTERM (it needed kill -9). It now exits by itself, and the photo
    whose download was cut stays to be fetched later."""
    with FakeViberAPI(auth_token="viber-process-token") as viber, \
            FakeMediaHost(trickle_seconds=1.0) as media:
        make_pending_photo(db, media.trickle_url("slow.jpg"))
        worker = spawn(["worker"], env_for(
            db, tg, data_dir, VIBER_AUTH_TOKEN="viber-process-token",
            VIBER_API_URL=f"{viber.url}/pa", MEDIA_HOSTS=media.netloc,
            MEDIA_FETCH_SECONDS="600"))
        try:
            media.wait_for_trickle(timeout=30)
            worker.send_signal(signal.SIGTERM)
            try:
                code = worker.wait(timeout=20)  # a hang detector, not a timing check
            except subprocess.TimeoutExpired:
                pytest.fail("the worker did not stop on SIGTERM during a download")
        finally:
            stop([worker])
    assert code == 0, worker.stderr.read() if worker.stderr else ""
    with db.read_session() as session:
        photo = session.scalars(select(ComplaintPhoto)).one()
    assert photo.status is PhotoStatus.pending and photo.attempts == 0
CONCURRENCY = 4  # the killed worker's SENDER_CONCURRENCY: at most this many on the wire


def _first_delivery_order(calls: list[Call]) -> dict[str, list[str]]:
    """Per chat, the texts in the order each first arrived at the platform."""
    order: dict[str, list[str]] = {}
    for call in calls:
        texts = order.setdefault(str(call.params["chat_id"]), [])
        if call.params["text"] not in texts:
            texts.append(call.params["text"])
    return order


@pytest.mark.parametrize("moment", ["requests held on the wire", "any moment"])
def test_a_killed_worker_sends_twice_only_what_was_on_the_wire(
        db: Database, tg: FakeTelegramAPI, data_dir: Path, moment: str) -> None:
    """SIGKILL the sender mid-run against a slow platform, start it again: every
    message arrives, in order per chat, and the only messages sent twice are those
    whose request had no answer yet when the process died (#14, item 3)."""
    chats = [str(9100 + i) for i in range(10)]
    expected = {chat: [f"m{chat}-{n}" for n in range(10)] for chat in chats}
    for chat in chats:
        queue(db, make_account(db, chat), *expected[chat])
    env = env_for(db, tg, data_dir, SENDER_CONCURRENCY=str(CONCURRENCY),
                  TELEGRAM_RATE_PER_SECOND="1000", TELEGRAM_CHAT_RATE_PER_SECOND="1000")
    tg.slow(0.05)
    first = spawn(["worker"], env)
    try:
        tg.wait_for(20, method="sendMessage", timeout=30)
        if moment == "requests held on the wire":
            # The platform stops answering; once the worker has filled every slot
            # with an unanswered request, what it had answered is all recorded.
            tg.hold()
            tg.wait_held(CONCURRENCY, timeout=15)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop([first])
    tg.release()
    tg.wait_in_flight(lambda n: n == 0, timeout=10)
    on_the_wire = len(tg.held)  # requests the dead worker never got an answer to
    held_texts = {held.get("text") for held in tg.held}
    tg.slow(0.0)
    second = spawn(["worker"], env)
    try:
        tg.wait_for(lambda calls: {c.params["text"] for c in calls} >= {
            text for texts in expected.values() for text in texts},
            method="sendMessage", timeout=60)
    finally:
        stop([second])

    calls = tg.delivered("sendMessage")
    times = Counter(call.params["text"] for call in calls)
    duplicates = {text: n - 1 for text, n in times.items() if n > 1}
    assert _first_delivery_order(calls) == expected  # nothing lost, order per chat kept
    assert sum(duplicates.values()) <= CONCURRENCY
    if moment == "requests held on the wire":
        assert on_the_wire <= CONCURRENCY
        assert set(duplicates) <= held_texts  # only what had no answer yet
        assert sum(duplicates.values()) <= on_the_wire
    with db.read_session() as session:
        statuses = session.scalars(select(OutboxMessage.status)).all()
    assert set(statuses) == {OutboxStatus.sent}


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{pid}\n" in status:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _wait_for_lines(log: Path, text: str, count: int, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in log.read_text(errors="replace").splitlines() if text in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def test_serve_with_two_workers_elects_one_sender_and_answers_each_update_once(
        db: Database, tg: FakeTelegramAPI, data_dir: Path, tmp_path: Path) -> None:
    """#20, item 4: `serve --workers 2` starts two web processes on one port,
    each with a sender loop (OUTBOX_IN_WEB is true); one holds the lease and
    sends, each update is answered once, and SIGTERM stops them all."""
    if db.is_sqlite:
        pytest.skip("several web processes are for PostgreSQL")
    env = env_for(db, tg, data_dir)
    env["LOG_LEVEL"] = "INFO"  # uvicorn names each process it starts, the lease its holder
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    citizens = [7300 + i for i in range(10)]
    try:
        wait_until_serving(server, base)
        started = _wait_for_lines(log, "Application startup complete", 2)
        assert len(started) == 2, log.read_text()
        workers = {int(line.split("[")[1].split("]")[0])
                   for line in _wait_for_lines(log, "Started server process", 2)}
        assert len(workers) == 2 and workers <= _children(server.pid)
        for _ in range(6):  # each answers, whichever the kernel hands a connection to
            assert httpx.get(f"{base}/healthz", headers={"Connection": "close"}
                             ).json()["status"] == "ok"
        for n, user in enumerate(citizens):
            response = httpx.post(f"{base}/webhooks/telegram", json=tg_command_update(6000 + n,
                                  user), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET,
                                                  "Connection": "close"})
            assert response.status_code == 200
        tg.wait_for(len(citizens), method="sendMessage", timeout=60)
        deadline = time.monotonic() + 30
        while True:  # until the sender has recorded every outcome
            with db.read_session() as session:
                statuses = Counter(session.scalars(select(OutboxMessage.status)))
            if statuses.get(OutboxStatus.sent, 0) >= len(citizens) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert lease.holder(db) is not None
        # Counted before SIGTERM: the holder lets go as it stops, and the other
        # process may take the lease over for its last moments (a handover, not two senders).
        elected = log.read_text(errors="replace").count("sender lease acquired")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=30)  # a hang detector, not a timing check
        except subprocess.TimeoutExpired:
            server.kill()
            pytest.fail("serve --workers 2 did not stop on SIGTERM")
    output_text = log.read_text(errors="replace")
    assert code == 0, output_text
    assert not any(_alive(pid) for pid in workers), "a web process outlived SIGTERM"
    assert elected == 1  # one sender, never two
    assert output_text.count("Application shutdown complete") == 2
    assert statuses == {OutboxStatus.sent: len(citizens)}
    welcomed = Counter(int(call.params["chat_id"]) for call in tg.delivered("sendMessage"))
    assert welcomed == dict.fromkeys(citizens, 1)


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    """SQLite takes one writer at a time: N processes would only queue for its
    lock, so the operator is told to use PostgreSQL (or one process)."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
           "KLOKOT_DATA_DIR": str(tmp_path), "WEB_CONCURRENCY": "2"}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "needs PostgreSQL" in done.stderr and "--workers 1" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "bot.db").exists()  # refused before touching anything
