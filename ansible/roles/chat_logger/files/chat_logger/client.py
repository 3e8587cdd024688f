"""The connection loop: connect (TLS), log in, join at Twitch's rate, log what arrives, reconnect with backoff.

One thread, one socket with a short read timeout, so signals (SIGHUP reopen, SIGTERM stop) and the dead-connection
check are handled within a second. A session ends when the server closes, a read fails, Twitch sends RECONNECT,
the login is refused, or nothing arrives for ``idle_timeout_s`` and our own PING gets no answer within
``pong_timeout_s``. The next connection waits an exponential, jittered delay (none after RECONNECT).
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from . import chatty
from .config import Config
from .irc import IrcMessage, IrcParseError, format_message, parse_message
from .logfiles import ChannelLogs

LOG = logging.getLogger("chat_logger.client")
READ_TIMEOUT_S = 0.5
MAX_LINE_BYTES = 64 * 1024
CAPABILITIES = "twitch.tv/tags twitch.tv/commands"
AUTH_FAILURES = ("Login authentication failed", "Login unsuccessful", "Improperly formatted auth", "Invalid NICK")


@dataclass
class StopFlags:
    """Set by the signal handlers, read by the loop."""

    terminate: bool = False
    reopen: bool = False


class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of min(max, initial * 2**n)."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0
        self.rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0


class JoinLimiter:
    """At most ``limit`` JOINs in any ``period`` seconds (Twitch allows 20 per 10 s to a normal account)."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.sent: deque[float] = deque()

    def allowed(self, now: float) -> int:
        while self.sent and now - self.sent[0] >= self.period:
            self.sent.popleft()
        return max(0, self.limit - len(self.sent))

    def record(self, now: float) -> None:
        self.sent.append(now)


@dataclass
class SessionResult:
    reason: str  # terminate | closed | error | reconnect | dead | auth
    welcomed: bool = False
    duration: float = 0.0
    detail: str = ""


@dataclass
class Session:
    """One connection's state."""

    sock: socket.socket
    config: Config
    logs: ChannelLogs
    flags: StopFlags
    limiter: JoinLimiter
    nick: str = ""
    welcomed: bool = False
    joined: set[str] = field(default_factory=set)
    pending_joins: deque[str] = field(default_factory=deque)
    buffer: bytes = b""

    def send(self, line: str) -> None:
        shown = "PASS ***" if line.startswith("PASS ") else line
        LOG.debug("> %s", shown)
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def run(self) -> SessionResult:
        started = time.monotonic()
        result = self._run()
        result.welcomed = self.welcomed
        result.duration = time.monotonic() - started
        return result

    def _run(self) -> SessionResult:
        try:
            self.send(f"CAP REQ :{CAPABILITIES}")
            if self.config.token:
                self.send(f"PASS {self.config.token}")
            self.send(f"NICK {self.nick}")
        except OSError as exc:
            return SessionResult("error", detail=f"login failed: {exc}")
        last_rx = time.monotonic()
        ping_sent: float | None = None
        while True:
            if self.flags.terminate:
                self._quietly(self.send, "QUIT")
                return SessionResult("terminate")
            if self.flags.reopen:
                self.flags.reopen = False
                self.logs.reopen()
            now = time.monotonic()
            try:
                self._send_joins(now)
                if ping_sent is None and now - last_rx >= self.config.idle_timeout_s:
                    LOG.info("nothing received for %.0f s, sending PING", now - last_rx)
                    self.send("PING :chat-logger")
                    ping_sent = now
            except OSError as exc:
                return SessionResult("error", detail=f"send failed: {exc}")
            if ping_sent is not None and now - ping_sent >= self.config.pong_timeout_s:
                return SessionResult("dead", detail=f"no answer to PING within {self.config.pong_timeout_s:.0f} s")
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError as exc:
                return SessionResult("error", detail=f"read failed: {exc}")
            if not data:
                return SessionResult("closed", detail="the server closed the connection")
            last_rx = time.monotonic()
            ping_sent = None
            outcome = self._feed(data)
            if outcome is not None:
                return outcome

    def _feed(self, data: bytes) -> SessionResult | None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        if len(self.buffer) > MAX_LINE_BYTES:
            LOG.warning("dropping an over-long partial IRC line (%d bytes, no line end)", len(self.buffer))
            self.buffer = b""
        for raw in lines:
            text = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if not text:
                continue
            try:
                message = parse_message(text)
            except IrcParseError as exc:
                LOG.warning("%s", exc)
                continue
            try:
                outcome = self._handle(message)
            except OSError as exc:
                return SessionResult("error", detail=f"send failed: {exc}")
            if outcome is not None:
                return outcome
        return None

    def _handle(self, message: IrcMessage) -> SessionResult | None:
        command = message.command
        if command == "PING":
            self.send(format_message("PONG", message.param(0, "tmi.twitch.tv")))
            return None
        if command == "RECONNECT":
            return SessionResult("reconnect", detail="the server asked us to reconnect")
        if command == "001":
            self.welcomed = True
            self.nick = message.param(0, self.nick)
            LOG.info("logged in to %s:%d as %s", self.config.host, self.config.port, self.nick)
            self.pending_joins.extend(c for c in self.config.channels if c not in self.pending_joins)
            return None
        if command == "CAP" and message.param(1) == "NAK":
            LOG.error("the server refused the capabilities %r: no badges or moderation events", message.param(2))
            return None
        if command in ("JOIN", "PART") and message.nick == self.nick:
            channel = chatty.channel_of(message)
            if command == "JOIN":
                self.joined.add(channel)
                self.logs.ensure_open(channel)
                LOG.info("joined #%s", channel)
            else:
                self.joined.discard(channel)
            return None
        if command == "NOTICE" and not message.param(0).startswith("#"):
            text = message.param(1)
            if any(failure in text for failure in AUTH_FAILURES):
                return SessionResult("auth", detail=f"login refused: {text}")
            LOG.info("server notice: %s", text)
            return None
        rendered = chatty.render(message)
        if rendered is not None:
            channel, lines = rendered
            self.logs.write(channel, lines)
        return None

    def _send_joins(self, now: float) -> None:
        if not self.welcomed:
            return
        allowed = self.limiter.allowed(now)
        while self.pending_joins and allowed > 0:
            channel = self.pending_joins.popleft()
            self.send(f"JOIN #{channel}")
            self.limiter.record(now)
            allowed -= 1

    @staticmethod
    def _quietly(function: Callable[[str], None], line: str) -> None:
        with contextlib.suppress(OSError):
            function(line)


def connect(config: Config) -> socket.socket:
    """A connected socket (TLS-wrapped when configured) with the short read timeout."""
    sock = socket.create_connection((config.host, config.port), timeout=config.connect_timeout_s)
    try:
        if config.tls:
            context = ssl.create_default_context(cafile=config.tls_ca_file)
            if not config.tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=config.host)
        sock.settimeout(READ_TIMEOUT_S)
    except BaseException:
        sock.close()
        raise
    return sock


def sleep_unless_stopped(seconds: float, flags: StopFlags, logs: ChannelLogs) -> None:
    deadline = time.monotonic() + seconds
    while not flags.terminate and time.monotonic() < deadline:
        if flags.reopen:
            flags.reopen = False
            logs.reopen()
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def run(config: Config, logs: ChannelLogs, flags: StopFlags) -> None:
    """Keep a session up until ``flags.terminate``; every file is opened for the configured channels first."""
    for channel in config.channels:
        logs.ensure_open(channel)
    backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
    limiter = JoinLimiter(config.join_limit, config.join_period_s)
    nick = config.login_nick
    while not flags.terminate:
        try:
            sock = connect(config)
        except (OSError, ssl.SSLError) as exc:
            delay = backoff.next_delay()
            LOG.warning("cannot connect to %s:%d: %s; retrying in %.1f s", config.host, config.port, exc, delay)
            sleep_unless_stopped(delay, flags, logs)
            continue
        LOG.info("connected to %s:%d%s", config.host, config.port, " (TLS)" if config.tls else "")
        session = Session(sock=sock, config=config, logs=logs, flags=flags, limiter=limiter, nick=nick)
        try:
            result = session.run()
        finally:
            sock.close()
        if result.reason == "terminate":
            break
        if result.welcomed and result.duration >= config.healthy_after_s:
            backoff.reset()
        delay = 0.0 if result.reason == "reconnect" else backoff.next_delay()
        log = LOG.error if result.reason == "auth" else LOG.warning
        log("connection ended (%s: %s); reconnecting in %.1f s", result.reason, result.detail, delay)
        sleep_unless_stopped(delay, flags, logs)
