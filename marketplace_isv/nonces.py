"""Replay protection: each V2 / Kit V2 nonce is accepted once (koogallery-protocol.md §2.3 step 5).

Every verified nonce is claimed before the handler runs and stays consumed whatever the call's
outcome; only verified nonces are stored, so forged calls cannot fill the store. The store is
shared by every worker process:

- Redis (`SET key NX EX`) when REDIS_URL is set: one cheap round trip per call;
- the database (`SeenNonce`, INSERT … ON CONFLICT DO NOTHING) in embedded mode, and as the
  fallback whenever Redis does not answer — a broker outage never stops KooGallery's calls from
  being answered.

After an outage both stores are checked for one retention period, by every process, so that a
nonce accepted into the database during it cannot be replayed once Redis is back: the process
that fell back sets a marker in Redis (`isv:nonce:database-too`, expiring with the retention)
when Redis answers again, and every claim reads the marker in the same round trip as its SET.
A process that starts (or reconnects) looks for recent database nonces itself, in case the one
that wrote them died before it could set the marker — or Redis restarted and lost it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from .envelope import AuthError
from .models import SeenNonce

logger = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 5.0  # after a Redis error, go straight to the database for this long

MARKER = "isv:nonce:database-too"  # present: some nonces of the retention period are in the database only

_lock = threading.Lock()
_redis_client = None
_redis_client_url = None
_skip_redis_until = 0.0
_degraded_until = 0.0  # this process checks the database too until then
_marker_owed = False  # this process accepted nonces into the database: mark Redis when it answers


def key(scheme: str, nonce: str) -> str:
    """The stored form of a nonce: its SHA-256, so any nonce KooGallery sends fits the store
    (the reference sets no length limit, and a NUL cannot be stored in a text column)."""
    digest = hashlib.sha256(nonce.encode("utf-8", errors="surrogatepass")).hexdigest()
    return f"{scheme}:{digest}"


def retention() -> timedelta:
    # Twice the window on either side of our clock: no replay inside it can slip through.
    return timedelta(seconds=4 * settings.KOOGALLERY_SIGNATURE_TOLERANCE_SECONDS + 60)


def claim(scheme: str, nonce: str) -> None:
    """Consume the nonce, or raise AuthError("nonce already used") if it was seen before."""
    global _marker_owed
    nonce_key = key(scheme, nonce)
    fresh, database_too = _claim_in_redis(nonce_key)
    if fresh is None:
        _marker_owed = bool(settings.REDIS_URL)
    if fresh is None or database_too or time.monotonic() < _degraded_until:
        fresh = _claim_in_db(nonce_key) and fresh is not False
    if not fresh:
        raise AuthError("nonce already used")


class SetNxClient:
    """The one Redis command this module needs — `SET key 1 NX EX ttl` — over a persistent socket
    per process and thread. It runs on every V2 call; a general-purpose client's per-command
    machinery (pool, retries, parser objects) cost several times the round trip itself."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 6379
        self.password = unquote(parts.password) if parts.password else None
        self.username = unquote(parts.username) if parts.username else None
        self.db = int(parts.path.strip("/") or 0)
        self.tls = parts.scheme == "rediss"
        self.local = threading.local()

    @staticmethod
    def _command(*args: bytes) -> bytes:
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        return b"".join(out)

    def _connect(self):
        sock = socket.create_connection((self.host, self.port), timeout=0.25)
        if self.tls:
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        setup = []
        if self.password:
            auth = (self.username.encode(), self.password.encode()) if self.username else (self.password.encode(),)
            setup.append(self._command(b"AUTH", *auth))
        if self.db:
            setup.append(self._command(b"SELECT", str(self.db).encode()))
        for command in setup:
            sock.sendall(command)
            if not reader.readline().startswith(b"+OK"):
                sock.close()
                raise ConnectionError("Redis refused AUTH/SELECT")
        return os.getpid(), sock, reader

    def connected(self) -> bool:
        """True if this thread of this process holds a connection already."""
        conn = getattr(self.local, "conn", None)
        return conn is not None and conn[0] == os.getpid()

    def _exchange(self, *commands: bytes) -> list[bytes]:
        """Send the commands in one write and read one reply line each (one round trip)."""
        if not self.connected():  # a forked worker must not share the parent's socket
            self.local.conn = self._connect()
        _, sock, reader = self.local.conn
        try:
            sock.sendall(b"".join(commands))
            return [reader.readline() for _ in commands]
        except OSError:
            self.local.conn = None
            sock.close()
            raise

    def _unexpected(self, reply: bytes) -> ConnectionError:
        _, sock, _ = self.local.conn
        self.local.conn = None
        sock.close()
        return ConnectionError(f"unexpected Redis reply {reply[:40]!r}")

    def set_nx(self, key: str, ttl: int, *, marker: str) -> tuple[bool, bool]:
        """`SET key 1 NX EX ttl` and `EXISTS marker` in one round trip: (key was new, marker set)."""
        stored, exists = self._exchange(
            self._command(b"SET", key.encode(), b"1", b"NX", b"EX", str(ttl).encode()),
            self._command(b"EXISTS", marker.encode()),
        )
        if not exists.startswith(b":"):
            raise self._unexpected(exists)
        if stored.startswith(b"+OK"):
            return True, exists != b":0\r\n"
        if stored.startswith(b"$-1") or stored.startswith(b"_"):
            return False, exists != b":0\r\n"
        raise self._unexpected(stored)

    def set_marker(self, marker: str, ttl: int) -> None:
        (reply,) = self._exchange(self._command(b"SET", marker.encode(), b"1", b"EX", str(max(1, ttl)).encode()))
        if not reply.startswith(b"+OK"):
            raise self._unexpected(reply)


def _client() -> SetNxClient:
    global _redis_client
    if _redis_client is None or _redis_client_url != settings.REDIS_URL:
        with _lock:
            _set_client(SetNxClient(settings.REDIS_URL))
    return _redis_client


def _set_client(client: SetNxClient) -> None:
    global _redis_client, _redis_client_url
    _redis_client, _redis_client_url = client, settings.REDIS_URL


def _claim_in_redis(nonce_key: str) -> tuple[bool | None, bool]:
    """(True: new, False: seen, None: Redis unavailable or not configured; the database must be
    checked too)."""
    global _skip_redis_until, _degraded_until, _marker_owed
    if not settings.REDIS_URL or time.monotonic() < _skip_redis_until:
        return None, True
    ttl = int(retention().total_seconds())
    try:
        client = _client()
        first = not client.connected()
        if _marker_owed:
            client.set_marker(MARKER, ttl)
            _marker_owed = False
        fresh, database_too = client.set_nx(f"isv:nonce:{nonce_key}", ttl, marker=MARKER)
        if first:
            database_too = _database_nonces_since_connect(client) or database_too
        return fresh, database_too
    except (OSError, ValueError) as exc:
        now = time.monotonic()
        _skip_redis_until = now + REDIS_RETRY_SECONDS
        _degraded_until = now + retention().total_seconds()
        logger.warning("nonces.redis_unavailable error=%s fallback=database", type(exc).__name__)
        return None, True


def _database_nonces_since_connect(client: SetNxClient) -> bool:
    """On a new Redis connection: if the database holds nonces of the retention period (written
    during an outage, perhaps by a process gone since), make sure Redis carries the marker.
    True if it does now. A database that does not answer leaves things as they are."""
    try:
        newest = SeenNonce.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    except DatabaseError as exc:
        logger.warning("nonces.database_check_failed error=%s", type(exc).__name__)
        return False
    if newest is None:
        return False
    left = (newest + retention() - timezone.now()).total_seconds()
    if left <= 0:
        return False
    client.set_marker(MARKER, int(left) + 1)
    logger.info("nonces.database_too seconds=%d", int(left))
    return True


def _claim_in_db(nonce_key: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {SeenNonce._meta.db_table} (key, seen_at) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            [nonce_key, timezone.now()],
        )
        return cursor.fetchone() is not None


def prune() -> int:
    deleted, _ = SeenNonce.objects.filter(seen_at__lt=timezone.now() - retention()).delete()
    if deleted:
        logger.info("nonces.pruned count=%d", deleted)
    return deleted
