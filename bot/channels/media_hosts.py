"""Where media URLs from a webhook may be fetched from (#13, item 6).

A Viber picture arrives as a URL in the callback, and whoever can reach the
webhook could name any URL there; fetching it blindly lets a stranger make
the server request its own loopback, the cloud's metadata address or the
town hall's intranet. So a URL is fetched only when:

- its host is on the allow-list `MEDIA_HOSTS` (comma-separated; default
  Viber's media hosts `dl-media.viber.com,*.viber.com`). An entry is a host
  name (`dl-media.viber.com`), a wildcard for the names under a domain
  (`*.viber.com`: `x.viber.com`, `a.b.viber.com`, not `viber.com` itself), or
  an IP address (`127.0.0.1`, `[::1]`); each optionally with `:port`
  (without one, only the scheme's default port);
- a host *name* is fetched over HTTPS only, and every address it resolves to
  is public: loopback, private, link-local, shared, unspecified, multicast
  and reserved addresses are refused — after name resolution, and the
  connection then goes to the very address that was checked (no second
  lookup an attacker's DNS could answer differently);
- an *IP address* entry is the one way to allow a non-public address (a
  test's fake on 127.0.0.1, an internal mirror): the operator must write the
  address itself, so no name, wildcard or DNS answer can open it by accident;
- redirects are followed by hand, at most three, and each hop passes the
  same checks before it is requested.

Anything else is a `MediaRefused`: the citizen is told the photo could not
be downloaded, exactly as for a file that is gone (no oracle of what is
where); the reason is kept in the photo's `error` for staff.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from bot.channels.base import MediaRefused, MediaTooBig

DEFAULT_MEDIA_HOSTS = "dl-media.viber.com,*.viber.com"
MAX_REDIRECTS = 3
DEFAULT_PORTS = {"https": 443, "http": 80}
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: Address) -> bool:
    """A global unicast address (an IPv4-mapped IPv6 address is judged as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local
        or address.is_multicast or address.is_reserved or address.is_unspecified)


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses a host name resolves to (tests replace this)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class _Entry:
    host: str  # a lower-case name, the domain of a wildcard, or an IP address's text
    wildcard: bool = False
    port: int | None = None
    address: Address | None = None

    def matches(self, host: str, address: Address | None, port: int, default: int) -> bool:
        if port != (self.port or default):
            return False
        if self.address is not None or address is not None:
            return self.address is not None and self.address == address
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def _entry(text: str) -> _Entry:
    """One MEDIA_HOSTS entry; ValueError (at start-up) for anything unclear."""
    value = text.strip().lower()
    problem = ValueError(f"MEDIA_HOSTS entry {text.strip()!r}: write a host name, "
                         "*.domain or an IP address, optionally with :port")
    if not value or "/" in value or "@" in value:
        raise problem
    host, port = value, None
    if value.startswith("["):  # [v6] or [v6]:port
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise problem
            port = rest[1:]
    elif value.count(":") == 1:
        host, port = value.split(":")
    number = None
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise problem
        number = int(port)
    address = _address(host)
    if address is not None:
        return _Entry(str(address), port=number, address=address)
    wildcard = host.startswith("*.")
    name = host[2:] if wildcard else host
    labels = name.split(".")
    if len(labels) < 2 or not all(label and all(ch.isalnum() or ch == "-" for ch in label)
                                  for label in labels):
        raise problem  # a bare "*", "*.com"-like tails of one label, or odd characters
    return _Entry(name, wildcard=wildcard, port=number)


@dataclass(frozen=True)
class Target:
    """A checked URL, ready to request: `url` names the checked address."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


class MediaHosts:
    """The allow-list, and the checks of a URL against it."""

    def __init__(self, entries: Iterable[str] | str = DEFAULT_MEDIA_HOSTS) -> None:
        items = entries.split(",") if isinstance(entries, str) else list(entries)
        self.entries = tuple(_entry(item) for item in items if item.strip())

    async def target(self, url: str | httpx.URL) -> Target:
        """Where to connect for URL, or MediaRefused saying why not."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise MediaRefused("media URL refused: not a URL") from None
        scheme, host = parsed.scheme, (parsed.host or "").lower().rstrip(".")
        if scheme not in DEFAULT_PORTS or not host:
            raise MediaRefused("media URL refused: not an http(s) URL")
        if parsed.userinfo:
            raise MediaRefused("media URL refused: credentials in the URL")
        default = DEFAULT_PORTS[scheme]
        port = parsed.port or default
        literal = _address(host)
        entry = next((e for e in self.entries if e.matches(host, literal, port, default)),
                     None)
        if entry is None:
            raise MediaRefused(f"media URL refused: host not allowed: {host}:{port}")
        if literal is not None:  # an address the operator wrote down: no lookup, no check
            return Target(parsed)
        if scheme != "https":
            raise MediaRefused(f"media URL refused: {host} only over https")
        try:
            found = await resolve_host(host, port)
        except OSError as exc:
            raise OSError(f"media host {host} did not resolve: {exc}") from exc  # transient
        addresses = [a for a in (_address(text.split("%")[0]) for text in found) if a]
        if not addresses:
            raise OSError(f"media host {host} resolved to no address")
        private = [str(a) for a in addresses if not is_public(a)]
        if private:
            raise MediaRefused(f"media URL refused: {host} resolves to a non-public "
                               f"address ({', '.join(private)})")
        chosen = addresses[0]
        pinned = parsed.copy_with(host=str(chosen))
        return Target(pinned, headers={"Host": parsed.netloc.decode("ascii")},
                      extensions={"sni_hostname": host})


async def fetch_allowed(client: httpx.AsyncClient, hosts: MediaHosts, url: str,
                        max_bytes: int) -> bytes:
    """The body at URL, read no further than `max_bytes`, each redirect hop
    checked before it is requested. Raises MediaRefused (never available:
    refused, gone, too big) or a transient error (network, 5xx)."""
    current = httpx.URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        target = await hosts.target(current)
        async with client.stream("GET", target.url, headers=target.headers,
                                 extensions=target.extensions) as response:
            if response.is_redirect:  # a 3xx with a Location
                current = current.join(response.headers["Location"])
                continue
            if response.status_code in (403, 404, 410):
                raise MediaRefused(f"HTTP {response.status_code}")
            response.raise_for_status()
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise MediaTooBig(f"{declared} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise MediaTooBig(f"over {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    raise MediaRefused(f"more than {MAX_REDIRECTS} redirects")
