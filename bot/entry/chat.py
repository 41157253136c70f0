"""`klokot-bot chat`: talk to the bot in a terminal as a citizen would,
through the same engine and database, with no token. Buttons are printed
numbered; type the number or the label. `!contact`, `!location`, `!photo`,
`!voice` and `!sticker` send what a phone would. The terminal delivers its own
channel's outbox rows (the sender leaves them alone)."""

from __future__ import annotations

import asyncio
import getpass
import io
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import select

from bot.channels.terminal import CHANNEL
from bot.db import Database, utcnow
from bot.engine.dispatcher import Engine
from bot.messages import Button, Contact, Incoming, Kind, Location, Media, Reply
from bot.models import ChannelAccount, OutboxMessage, OutboxStatus

if TYPE_CHECKING:
    from bot.services.photos import PhotoFetcher
    from bot.services.voice import VoiceFetcher

HELP = (
    "Type a message, a /command, or the number of a button.\n"
    "  !contact [+383…]   share a phone number      !location [lat lon]  share a location\n"
    "  !photo [file]      send a photo (a sample    !sticker             send a sticker\n"
    "                     picture without a file)\n"
    "  !voice [file]      send a voice message (a short sample recording without a file)\n"
    "  !quit              leave the chat (the conversation is kept)\n"
)


def sample_photo() -> Path:
    """A small picture to send when the tester has none at hand."""
    from PIL import Image, ImageDraw

    path = Path(tempfile.gettempdir()) / "klokot-sample-photo.jpg"
    if not path.is_file():
        image = Image.new("RGB", (640, 480), (135, 170, 200))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 330, 640, 480), fill=(90, 90, 90))  # a road
        draw.ellipse((260, 360, 380, 420), fill=(60, 50, 40))  # with a pothole
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        path.write_bytes(buffer.getvalue())
    return path


def sample_voice() -> Path:
    """A few seconds of a tone, as a WAV recording, for `!voice` without a file."""
    import math
    import struct
    import wave

    path = Path(tempfile.gettempdir()) / "klokot-sample-voice.wav"
    if not path.is_file():
        rate = 8000
        frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                          for i in range(rate * 4))
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(frames)
    return path


class TerminalChat:
    def __init__(self, engine: Engine, db: Database, user: str | None = None,
                 language: str | None = None, out: TextIO = sys.stdout,
                 photos: PhotoFetcher | None = None,
                 voices: VoiceFetcher | None = None) -> None:
        self.engine = engine
        self.photos = photos
        self.voices = voices
        self.db = db
        self.user = user or f"{getpass.getuser()}"
        self.language = language
        self.out = out
        self.buttons: list[Button] = []
        self._counter = itertools.count(int(time.time() * 1000))

    def incoming(self, line: str) -> Incoming | None:
        """What the typed line means, as a phone would have sent it."""
        line = line.strip()
        base: dict[str, Any] = {"channel": CHANNEL, "user_id": self.user, "chat_id": self.user,
                "update_key": f"{self.user}:{next(self._counter)}",
                "display_name": self.user, "language_hint": self.language}
        if not line:
            return None
        if line.isdigit() and 1 <= int(line) <= len(self.buttons):
            button = self.buttons[int(line) - 1]
            return Incoming(kind=Kind.button, payload=button.payload, **base)
        if line.startswith("!"):
            word, _, rest = line[1:].partition(" ")
            if word == "contact":
                phone = rest.strip() or "+38344123456"
                return Incoming(kind=Kind.contact, contact=Contact(phone, self.user), **base)
            if word == "location":
                parts = rest.split()
                lat, lon = (float(parts[0]), float(parts[1])) if len(parts) == 2 else (
                    42.3697, 21.3769)
                return Incoming(kind=Kind.location, location=Location(lat, lon), **base)
            if word == "photo":
                path = Path(rest.strip()).expanduser() if rest.strip() else sample_photo()
                media = Media(url=path.resolve().as_uri(), mime_type="image/jpeg",
                              size=path.stat().st_size if path.is_file() else None)
                return Incoming(kind=Kind.photo, media=(media,), **base)
            if word == "voice":  # a file, as Viber hands one over: no length given
                path = Path(rest.strip()).expanduser() if rest.strip() else sample_voice()
                media = Media(url=path.resolve().as_uri(), file_name=path.name,
                              size=path.stat().st_size if path.is_file() else None)
                return Incoming(kind=Kind.voice, media=(media,), **base)
            if word == "sticker":
                return Incoming(kind=Kind.sticker, **base)
        if line.startswith("/") and len(line) > 1:
            command, _, args = line[1:].partition(" ")
            return Incoming(kind=Kind.command, text=line, command=command.lower(),
                            args=args.strip(), **base)
        return Incoming(kind=Kind.text, text=line, **base)

    def known(self) -> bool:
        with self.db.read_session() as session:
            return session.scalar(
                select(ChannelAccount.id).where(ChannelAccount.channel == CHANNEL,
                                                ChannelAccount.external_id == self.user)
            ) is not None

    def send(self, line: str) -> list[Reply]:
        """Handle one typed line and deliver (print) the replies it queued."""
        incoming = self.incoming(line)
        if incoming is None:
            return []
        self.engine.handle(incoming)
        if self.photos is not None:  # what the worker would do a moment later
            asyncio.run(self.photos.run_once())
        if self.voices is not None:
            asyncio.run(self.voices.run_once())
        return self.deliver()

    def deliver(self) -> list[Reply]:
        """Print this chat's queued outbox rows and mark them sent."""
        with self.db.session() as session:
            rows = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.channel == CHANNEL, OutboxMessage.chat_id == self.user,
                       OutboxMessage.status == OutboxStatus.queued)
                .order_by(OutboxMessage.id)
            ).all()
            replies = []
            for row in rows:
                reply = Reply.from_json(row.body)
                replies.append(reply)
                self.print_reply(reply)
                row.status, row.sent_at = OutboxStatus.sent, utcnow()
            return replies

    def print_reply(self, reply: Reply) -> None:
        write: Callable[[str], object] = self.out.write
        write("\n" + "\n".join(f"🤖 {line}" if i == 0 else f"   {line}"
                               for i, line in enumerate(reply.text.splitlines() or [""])) + "\n")
        flat = [b for row in reply.buttons for b in row]
        if reply.request:
            write(f"   [!{reply.request}] {reply.request_label or reply.request}\n")
        if flat:
            self.buttons = flat
            number = itertools.count(1)
            for row in reply.buttons:
                write("   " + "   ".join(f"[{next(number)}] {b.label}" for b in row) + "\n")
        if reply.file:
            where = reply.file.path or reply.file.url
            write(f"   📎 {reply.file.file_name or where}" +
                  (f"  ({where})\n" if reply.file.file_name and where else "\n"))
        self.out.flush()

    def loop(self, read: Callable[[str], str] = input) -> None:
        self.out.write(HELP)
        # Someone coming back finds their conversation where they left it.
        if not self.known():
            self.send("/start")
        else:
            self.out.write("(welcome back: your conversation continues; /menu for the menu)\n")
            self.deliver()
        while True:
            try:
                line = read("\n> ")
            except (EOFError, KeyboardInterrupt):
                self.out.write("\n")
                return
            if line.strip() in {"!quit", "!exit"}:
                return
            if line.strip() == "!help":
                self.out.write(HELP)
                continue
            self.send(line)
