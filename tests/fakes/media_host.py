"""A local media host for the download tests: it serves pictures, trickles
them (one byte every few seconds, never finishing — a slow or hostile
server), or redirects elsewhere, and records every request it gets.

Standard library only, on 127.0.0.1 (port 0) from a daemon thread, like the
platform fakes. Paths:

- ``/media/NAME``: the bytes added with :meth:`FakeMediaHost.add`;
- ``/trickle/NAME``: headers promising 100 kB, then one byte every
  ``trickle_seconds`` until the client goes away or the fake stops — unless
  NAME was added, when it is served at once (the host recovered);
- ``/redirect/NAME``: ``302`` to the URL set with :meth:`FakeMediaHost.redirect`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class FakeMediaHost:
    def __init__(self, trickle_seconds: float = 2.0) -> None:
        self.trickle_seconds = trickle_seconds
        self._lock = threading.Condition()
        self._media: dict[str, bytes] = {}
        self._redirects: dict[str, str] = {}
        self._requests: list[str] = []
        self._trickling = 0
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    # -- what it serves -----------------------------------------------------------
    def add(self, name: str, data: bytes) -> str:
        with self._lock:
            self._media[name] = data
        return f"{self.url}/media/{name}"

    def trickle_url(self, name: str) -> str:
        return f"{self.url}/trickle/{name}"

    def redirect(self, name: str, to: str) -> str:
        with self._lock:
            self._redirects[name] = to
        return f"{self.url}/redirect/{name}"

    # -- what it saw --------------------------------------------------------------
    @property
    def requests(self) -> list[str]:
        """The paths requested so far, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def trickling(self) -> int:
        """How many trickled downloads are being served right now."""
        with self._lock:
            return self._trickling

    def wait_for_trickle(self, timeout: float = 20.0) -> None:
        """Block until a trickled download is under way."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._trickling > 0, timeout):
                raise AssertionError(f"no trickled download began; saw {self._requests}")

    # -- lifecycle ----------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeMediaHost is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def netloc(self) -> str:
        return self.url.removeprefix("http://")

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with fake._lock:
                    fake._requests.append(self.path)
                    fake._lock.notify_all()
                kind, _, name = self.path.lstrip("/").partition("/")
                if kind in ("media", "trickle") and name in fake._media:
                    self._answer(200, fake._media[name], "image/jpeg")
                elif kind == "redirect" and name in fake._redirects:
                    self.send_response(302)
                    self.send_header("Location", fake._redirects[name])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif kind == "trickle":
                    self._trickle()
                else:
                    self._answer(404, b"not found", "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _trickle(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                with fake._lock:
                    fake._trickling += 1
                    fake._lock.notify_all()
                try:
                    self.wfile.write(b"\xff")
                    self.wfile.flush()
                    while not fake._stopping.wait(fake.trickle_seconds):
                        self.wfile.write(b"\xd8")
                        self.wfile.flush()
                except OSError:
                    pass  # the client gave up
                finally:
                    with fake._lock:
                        fake._trickling -= 1
                        fake._lock.notify_all()
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="FakeMediaHost").start()
        self._httpd = httpd
        return self

    def stop(self) -> None:
        self._stopping.set()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            with contextlib.suppress(OSError):
                httpd.socket.shutdown(socket.SHUT_RDWR)
            httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
