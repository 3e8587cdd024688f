"""A local IRC server speaking Twitch's dialect, to test the chat logger (and run the demo) without Twitch.

    python -m scripts.twitch_irc_server [--bind 127.0.0.1] [--port 6667] [--tls [--cert-dir DIR]]
        [--generate 500 [--seed 7] [--channels a,b] | --script FILE] [--rate 20]
        [--drop-after N] [--reconnect-after N] [--linger | --exit-when-done]
    python -m scripts.twitch_irc_server --generate 500 --write-script chat.jsonl   # write a script, serve nothing

It answers what a client of irc.chat.twitch.tv sees: ``CAP REQ`` acknowledged for twitch.tv/tags, commands and
membership; PASS/NICK (``justinfan<digits>`` anonymous, or an ``oauth:`` token) and the 001-004/375/372/376
welcome, or ``NOTICE * :Login authentication failed``; JOIN echoed with 353/366, ROOMSTATE and USERSTATE; PING and
PONG (it also pings idle clients); PART. Scripted chat goes to every client that joined the channel as tagged
PRIVMSG (with ``/me`` actions and cheers), USERNOTICE (sub, resub, subgift, raid, with ``system-msg`` escaped
``\\s``), CLEARCHAT (timeout with ``ban-duration``, ban, clear) and CLEARMSG (``login``, ``target-msg-id``), with
the tags Twitch sends (badge-info, badges, color, display-name, emotes, id, mod, room-id, subscriber,
tmi-sent-ts, turbo, user-id, user-type, ...). Clients without the tags capability get the lines without tags, and
without the commands capability no USERNOTICE/CLEARCHAT/CLEARMSG/ROOMSTATE, as on Twitch.

Faults for reconnect tests: :meth:`TwitchIrcServer.drop_all` aborts every connection, ``send_reconnect`` sends
``RECONNECT`` (Twitch's "reconnect now"), ``silence_all`` makes existing connections go quiet without closing
(a dead link). With ``--tls`` a self-signed certificate for the bind address is made with the ``openssl`` CLI; its
path is printed, for the client's CA file. Script files are JSON lines, one :class:`ScriptedEvent` each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SERVER = "tmi.twitch.tv"
KNOWN_CAPS = ("twitch.tv/tags", "twitch.tv/commands", "twitch.tv/membership")
COMMANDS_ONLY = ("USERNOTICE", "CLEARCHAT", "CLEARMSG", "ROOMSTATE", "USERSTATE", "RECONNECT")
# Public Twitch global emote codes and ids (for the emotes= tag).
EMOTES = {"Kappa": "25", "PogChamp": "305954156", "LUL": "425618", "HeyGuys": "30259", "BibleThump": "86",
          "Kreygasm": "41", "ResidentSleeper": "245"}
EVENT_KINDS = ("message", "action", "cheer", "sub", "resub", "subgift", "raid", "timeout", "ban", "delete", "clear")


# ------------------------------------------------------------------------------------------------ tags


def escape_tag(value: str) -> str:
    """IRCv3 tag value escaping (Twitch writes spaces in system-msg as ``\\s``)."""
    return (value.replace("\\", "\\\\").replace(";", "\\:").replace(" ", "\\s")
            .replace("\r", "\\r").replace("\n", "\\n"))


def tag_string(tags: dict[str, str]) -> str:
    return "@" + ";".join(f"{key}={escape_tag(value)}" for key, value in tags.items())


def numeric_id(*parts: str) -> str:
    """A stable numeric id (user-id, room-id) for a login or channel."""
    return str(int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:8], 16))


def emotes_tag(text: str) -> str:
    """``25:0-4,12-16/305954156:6-13``: emote id and code-point ranges of each known emote word."""
    ranges: dict[str, list[str]] = {}
    position = 0
    for word in text.split(" "):
        if word in EMOTES:
            ranges.setdefault(EMOTES[word], []).append(f"{position}-{position + len(word) - 1}")
        position += len(word) + 1
    return "/".join(f"{emote}:{','.join(spans)}" for emote, spans in ranges.items())


def strip_tags(line: str) -> str:
    return line.split(" ", 1)[1] if line.startswith("@") else line


# ------------------------------------------------------------------------------------------------ events


@dataclass
class ScriptedEvent:
    """One chat event to send. ``kind`` is one of :data:`EVENT_KINDS`; ``badges`` is Twitch's tag value
    (``moderator/1,subscriber/12``); ``target_msg_id``/``text`` of a ``delete`` name the deleted message."""

    kind: str
    channel: str
    login: str = ""
    display_name: str = ""
    text: str = ""
    badges: str = ""
    bits: int = 0
    duration: int = 0
    months: int = 0
    recipient: str = ""
    viewers: int = 0
    target_msg_id: str = ""
    msg_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind {self.kind!r} is not one of {', '.join(EVENT_KINDS)}")
        self.channel = self.channel.lstrip("#").lower()
        self.login = self.login.lower()

    @property
    def display(self) -> str:
        return self.display_name or self.login

    def system_msg(self) -> str:
        if self.kind == "sub":
            return f"{self.display} subscribed at Tier 1."
        if self.kind == "resub":
            return f"{self.display} subscribed at Tier 1. They've subscribed for {self.months} months!"
        if self.kind == "subgift":
            return f"{self.display} gifted a Tier 1 sub to {self.recipient}!"
        if self.kind == "raid":
            return f"{self.viewers} raiders from {self.display} have joined!"
        return ""

    def _user_tags(self, now_ms: int) -> dict[str, str]:
        badges = self.badges
        names = {b.split("/", 1)[0] for b in badges.split(",") if b}
        sub_months = next((b.split("/", 1)[1] for b in badges.split(",") if b.startswith("subscriber/")), "")
        return {
            "badge-info": f"subscriber/{sub_months}" if sub_months else "",
            "badges": badges,
            "color": "#" + hashlib.sha256(self.login.encode()).hexdigest()[:6].upper(),
            "display-name": self.display_name,
            "emotes": emotes_tag(self.text),
            "flags": "",
            "id": self.msg_id,
            "mod": "1" if "moderator" in names else "0",
            "room-id": numeric_id(self.channel),
            "subscriber": "1" if names & {"subscriber", "founder"} else "0",
            "tmi-sent-ts": str(now_ms),
            "turbo": "1" if "turbo" in names else "0",
            "user-id": numeric_id(self.login),
            "user-type": "mod" if "moderator" in names else "",
        }

    def to_irc(self, now_ms: int | None = None) -> str:
        """The line Twitch would send for this event (without CRLF)."""
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        room = f"#{self.channel}"
        if self.kind in ("message", "action", "cheer"):
            tags = self._user_tags(now_ms)
            if self.kind == "cheer":
                tags["bits"] = str(self.bits)
            tags = dict(sorted({**tags, "first-msg": "0", "returning-chatter": "0"}.items()))  # Twitch's order
            text = f"\x01ACTION {self.text}\x01" if self.kind == "action" else self.text
            prefix = f"{self.login}!{self.login}@{self.login}.{SERVER}"
            return f"{tag_string(tags)} :{prefix} PRIVMSG {room} :{text}"
        if self.kind in ("sub", "resub", "subgift", "raid"):
            tags = self._user_tags(now_ms)
            msg_id = {"sub": "sub", "resub": "resub", "subgift": "subgift", "raid": "raid"}[self.kind]
            params: dict[str, str] = {}
            if self.kind in ("sub", "resub"):
                params = {"msg-param-cumulative-months": str(max(self.months, 1)),
                          "msg-param-should-share-streak": "0", "msg-param-sub-plan": "1000",
                          "msg-param-sub-plan-name": f"Channel Subscription ({self.channel})"}
            elif self.kind == "subgift":
                params = {"msg-param-months": "1", "msg-param-recipient-display-name": self.recipient,
                          "msg-param-recipient-id": numeric_id(self.recipient),
                          "msg-param-recipient-user-name": self.recipient.lower(), "msg-param-sub-plan": "1000"}
            else:
                params = {"msg-param-displayName": self.display, "msg-param-login": self.login,
                          "msg-param-viewerCount": str(self.viewers)}
            tags = {**tags, "login": self.login, "msg-id": msg_id, **params, "system-msg": self.system_msg()}
            tags = dict(sorted(tags.items()))
            line = f"{tag_string(tags)} :{SERVER} USERNOTICE {room}"
            return f"{line} :{self.text}" if self.text else line
        if self.kind in ("timeout", "ban", "clear"):
            tags = {"room-id": numeric_id(self.channel)}
            if self.kind == "timeout":
                tags = {"ban-duration": str(self.duration), **tags}
            if self.kind == "clear":
                return f"{tag_string({**tags, 'tmi-sent-ts': str(now_ms)})} :{SERVER} CLEARCHAT {room}"
            tags = {**tags, "target-user-id": numeric_id(self.login), "tmi-sent-ts": str(now_ms)}
            return f"{tag_string(tags)} :{SERVER} CLEARCHAT {room} :{self.login}"
        tags = {"login": self.login, "room-id": "", "target-msg-id": self.target_msg_id, "tmi-sent-ts": str(now_ms)}
        return f"{tag_string(tags)} :{SERVER} CLEARMSG {room} :{self.text}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ScriptedEvent:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown event field(s) {', '.join(sorted(unknown))} in {raw!r}")
        return cls(**raw)


def read_script(path: Path) -> list[ScriptedEvent]:
    """Events from a JSON-lines file; an unreadable line is an error naming the file and line number."""
    events = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            events.append(ScriptedEvent.from_dict(json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
    return events


# ------------------------------------------------------------------------------------------------ generator

_USERS = [
    # login, display name (Korean ones differ from the login), badges
    ("examplestreamer", "스트리머", "broadcaster/1,subscriber/0"),
    ("mod_kim", "Mod_Kim", "moderator/1,subscriber/24"),
    ("viewer_one", "시청자", "subscriber/12"),
    ("gamer_lee", "게이머리", "vip/1,bits/1000"),
    ("nightowl", "NightOwl", ""),
    ("turbo_fan", "turbo_fan", "turbo/1"),
    ("founder_park", "박창립", "founder/0"),
    ("staff_person", "Staff_Person", "staff/1"),
    ("prime_user", "prime_user", "premium/1"),
    ("helperbot", "HelperBot", "moderator/1,bot-badge/1"),
    ("lurker42", "lurker42", ""),
    ("cheer_queen", "치어퀸", "subscriber/3,bits/100"),
]
_PHRASES = ["안녕하세요 여러분", "ㅋㅋㅋㅋㅋ", "와 대박", "that was insane", "Kappa Kappa", "PogChamp 가즈아",
            "hello chat HeyGuys", "gg wp", "노잼 ㅡㅡ", "[clip] 각 LUL", ":) 좋아요", "a;b\\c = 50% off?",
            "emoji 🎉🔥", "아 진짜 아쉽다 BibleThump", "   spaced   out   ", "<not a tag> & stuff"]


def generate_events(count: int, channels: Iterable[str], seed: int = 7) -> list[ScriptedEvent]:
    """``count`` events over the channels: mostly chat (Korean and English, actions, cheers), some subs, a raid,
    timeouts, bans and deletions of earlier messages. Every chat text is unique (it carries a sequence number)."""
    rng = random.Random(seed)
    names = [c.lstrip("#").lower() for c in channels]
    sent: dict[str, list[ScriptedEvent]] = {c: [] for c in names}
    events: list[ScriptedEvent] = []
    weights = {"message": 70, "action": 6, "cheer": 5, "sub": 3, "resub": 3, "subgift": 2, "raid": 1,
               "timeout": 4, "ban": 1, "delete": 4}
    kinds, kind_weights = list(weights), list(weights.values())
    for sequence in range(count):
        channel = names[sequence % len(names)]
        kind = rng.choices(kinds, kind_weights)[0]
        login, display, badges = rng.choice(_USERS)
        if login == "examplestreamer":
            badges = "subscriber/0"  # only the channel's own broadcaster gets the broadcaster badge
            if channel == "examplestreamer":
                badges = "broadcaster/1,subscriber/0"
        text = f"{rng.choice(_PHRASES).strip()} {sequence}"
        if kind == "delete" and not sent[channel]:
            kind = "message"
        if kind in ("message", "action"):
            event = ScriptedEvent(kind, channel, login, display, text, badges)
            sent[channel].append(event)
        elif kind == "cheer":
            bits = rng.choice([1, 100, 500, 1000])
            event = ScriptedEvent(kind, channel, login, display, f"Cheer{bits} {text}", badges, bits=bits)
            sent[channel].append(event)
        elif kind in ("sub", "resub", "subgift", "raid"):
            message = text if kind == "resub" and rng.random() < 0.7 else ""
            event = ScriptedEvent(kind, channel, login, display, message, badges, months=rng.randint(2, 40),
                                  recipient=rng.choice(_USERS)[0], viewers=rng.randint(5, 900))
        elif kind in ("timeout", "ban"):
            victim = rng.choice(_USERS)[0]
            event = ScriptedEvent(kind, channel, victim, duration=rng.choice([1, 60, 600, 86400]))
        else:
            target = rng.choice(sent[channel])
            event = ScriptedEvent("delete", channel, target.login, text=target.text, target_msg_id=target.msg_id)
        events.append(event)
    return events


# ------------------------------------------------------------------------------------------------ TLS


def make_self_signed(directory: Path, hosts: Iterable[str]) -> tuple[Path, Path]:
    """A self-signed certificate and key for ``hosts`` (IP addresses and names) made with the openssl CLI;
    the certificate is also the client's CA file."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("--tls needs the openssl command (Debian package openssl) to make a certificate")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "twitch-irc-test.crt", directory / "twitch-irc-test.key"
    names = []
    for host in dict.fromkeys([*hosts, "localhost", "127.0.0.1"]):
        is_ip = host.replace(".", "").isdigit() or ":" in host
        names.append(f"IP:{host}" if is_ip else f"DNS:{host}")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "7",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=Twitch IRC test server",
         "-addext", f"subjectAltName={','.join(names)}",
         "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
         "-addext", "extendedKeyUsage=serverAuth"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


# ------------------------------------------------------------------------------------------------ server


@dataclass(eq=False)
class _Client:
    writer: asyncio.StreamWriter
    peer: str
    nick: str = ""
    password: str = ""
    caps: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    registered: bool = False
    silent: bool = False
    last_rx: float = field(default_factory=time.monotonic)

    def send(self, line: str) -> None:
        if self.silent or self.writer.is_closing():
            return
        command = strip_tags(line).split(" ", 2)[1] if line.startswith((":", "@")) else line.split(" ", 1)[0]
        if command in COMMANDS_ONLY and "twitch.tv/commands" not in self.caps:
            return
        if "twitch.tv/tags" not in self.caps:
            line = strip_tags(line)
        self.writer.write(line.encode("utf-8") + b"\r\n")

    @property
    def prefix(self) -> str:
        return f"{self.nick}!{self.nick}@{self.nick}.{SERVER}"


class TwitchIrcServer:
    """The asyncio server; every method runs in its event loop (see :class:`ServerThread` for other threads)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None,
                 ping_interval: float = 0.0, token: str | None = None) -> None:
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self.ping_interval = ping_interval
        self.token = token
        self.clients: set[_Client] = set()
        self.connections = 0
        self.logins = 0
        self._server: asyncio.base_events.Server | None = None
        self._pinger: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.ping_interval > 0:
            self._pinger = asyncio.get_running_loop().create_task(self._ping_loop())

    async def stop(self) -> None:
        if self._pinger:
            self._pinger.cancel()
        if self._server:
            self._server.close()
        for client in list(self.clients):
            client.writer.transport.abort()
        if self._server:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    # -- what tests and the CLI call
    def joined(self, channel: str) -> int:
        """How many logged-in, non-silent clients are in the channel."""
        name = channel.lstrip("#").lower()
        return sum(1 for c in self.clients if name in c.channels and not c.silent)

    def deliver(self, event: ScriptedEvent | str, channel: str | None = None) -> int:
        """Send one event (or a raw line for ``channel``) to every client in its channel; returns how many."""
        line = event.to_irc() if isinstance(event, ScriptedEvent) else event
        name = event.channel if isinstance(event, ScriptedEvent) else (channel or "").lstrip("#").lower()
        count = 0
        for client in list(self.clients):
            if name in client.channels and not client.silent:
                client.send(line)
                count += 1
        return count

    def drop_all(self) -> int:
        """Abort every connection (as a network failure would); returns how many."""
        clients = list(self.clients)
        for client in clients:
            client.channels.clear()
            client.writer.transport.abort()
        return len(clients)

    def send_reconnect(self) -> int:
        """Send RECONNECT to every client and stop delivering to it (Twitch closes it soon after)."""
        clients = [c for c in self.clients if c.registered]
        for client in clients:
            client.send(f":{SERVER} RECONNECT")
            client.channels.clear()
            asyncio.get_running_loop().call_later(10, client.writer.transport.abort)
        return len(clients)

    def silence_all(self) -> int:
        """Existing connections stay open but get nothing more, and their input is ignored (a dead link)."""
        clients = list(self.clients)
        for client in clients:
            client.silent = True
        return len(clients)

    # -- protocol
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = _Client(writer=writer, peer=f"{peer}")
        self.clients.add(client)
        self.connections += 1
        try:
            while not writer.is_closing():
                raw = await reader.readline()
                if not raw:
                    break
                client.last_rx = time.monotonic()
                if client.silent:
                    continue
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if line and not self._command(client, line):
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        finally:
            self.clients.discard(client)
            writer.transport.abort()

    def _command(self, client: _Client, line: str) -> bool:
        """Handle one client line; False closes the connection."""
        words = strip_tags(line).split(" ")
        command = words[0].upper()
        args = words[1:]
        trailing = line.split(" :", 1)[1] if " :" in line else (args[-1] if args else "")
        nick = client.nick or "*"
        if command == "CAP":
            sub = args[0].upper() if args else ""
            if sub == "LS":
                client.writer.write(f":{SERVER} CAP * LS :{' '.join(KNOWN_CAPS)}\r\n".encode())
            elif sub == "REQ":
                wanted = trailing.split()
                if all(cap in KNOWN_CAPS for cap in wanted):
                    client.caps.update(wanted)
                    client.writer.write(f":{SERVER} CAP * ACK :{' '.join(wanted)}\r\n".encode())
                else:
                    client.writer.write(f":{SERVER} CAP * NAK :{' '.join(wanted)}\r\n".encode())
            return True
        if command == "PASS":
            client.password = trailing
            return True
        if command == "NICK":
            client.nick = (args[0] if args else "").lower()
            return self._login(client)
        if command == "PING":
            client.send(f":{SERVER} PONG {SERVER} :{trailing}")
            return True
        if command == "PONG":
            return True
        if command == "QUIT":
            return False
        if not client.registered:
            client.send(f":{SERVER} 451 {nick} :You have not registered")
            return True
        if command == "JOIN":
            for channel in (args[0] if args else "").split(","):
                self._join(client, channel.lstrip("#").lower())
            return True
        if command == "PART":
            for channel in (args[0] if args else "").split(","):
                name = channel.lstrip("#").lower()
                if name in client.channels:
                    client.channels.discard(name)
                    client.send(f":{client.prefix} PART #{name}")
            return True
        if command == "PRIVMSG":
            if not client.password:
                client.send(f":{SERVER} NOTICE #{args[0].lstrip('#') if args else '*'} :You don't have permission.")
            return True
        client.send(f":{SERVER} 421 {nick} {command} :Unknown command")
        return True

    def _login(self, client: _Client) -> bool:
        anonymous = client.nick.startswith("justinfan") and client.nick[len("justinfan"):].isdigit()
        if client.password:
            if not client.password.startswith("oauth:") or (self.token and client.password != f"oauth:{self.token}"):
                client.send(f":{SERVER} NOTICE * :Login authentication failed")
                return False
        elif not anonymous:
            client.send(f":{SERVER} NOTICE * :Improperly formatted auth")
            return False
        client.registered = True
        self.logins += 1
        for number, text in (("001", "Welcome, GLHF!"), ("002", f"Your host is {SERVER}"),
                             ("003", "This server is rather new"), ("004", "-"), ("375", "-"),
                             ("372", "You are in a maze of twisty passages, all alike."), ("376", ">")):
            client.send(f":{SERVER} {number} {client.nick} :{text}")
        if client.password:
            client.send(f"@badge-info=;badges=;color=;display-name={client.nick};emote-sets=0;user-id="
                        f"{numeric_id(client.nick)};user-type= :{SERVER} GLOBALUSERSTATE")
        return True

    def _join(self, client: _Client, name: str) -> None:
        if not name or not name.replace("_", "").isalnum():
            client.send(f":{SERVER} NOTICE #{name} :Invalid channel name")
            return
        client.channels.add(name)
        me = client.nick
        client.send(f":{client.prefix} JOIN #{name}")
        client.send(f":{me}.{SERVER} 353 {me} = #{name} :{me}")
        client.send(f":{me}.{SERVER} 366 {me} #{name} :End of /NAMES list")
        client.send(f"@emote-only=0;followers-only=-1;r9k=0;room-id={numeric_id(name)};slow=0;subs-only=0 "
                    f":{SERVER} ROOMSTATE #{name}")
        client.send(f"@badge-info=;badges=;color=;display-name={me};emote-sets=0;mod=0;subscriber=0;user-type= "
                    f":{SERVER} USERSTATE #{name}")

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            for client in list(self.clients):
                if client.registered:
                    client.send(f"PING :{SERVER}")


class ServerThread:
    """The server in its own event loop thread, driven from synchronous code (tests, the demo)."""

    def __init__(self, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = TwitchIrcServer(**kwargs)
        self._thread = threading.Thread(target=self.loop.run_forever, name="twitch-irc-server", daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self.call(self.server.start)
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self.server.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @property
    def port(self) -> int:
        return self.server.port

    def call(self, function: Any, *args: Any) -> Any:
        """Run ``function(*args)`` (a plain function or a coroutine function) in the server's loop."""
        async def runner() -> Any:
            result = function(*args)
            return await result if asyncio.iscoroutine(result) else result
        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(30)

    def deliver(self, events: Iterable[ScriptedEvent]) -> list[int]:
        return self.call(lambda: [self.server.deliver(e) for e in events])

    def wait_joined(self, channels: Iterable[str], timeout: float = 30.0) -> None:
        names = list(channels)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.call(self.server.joined, c) >= 1 for c in names):
                return
            time.sleep(0.05)
        missing = [c for c in names if self.call(self.server.joined, c) < 1]
        raise TimeoutError(f"no client joined {', '.join('#' + c for c in missing)} within {timeout:.0f} s")


# ------------------------------------------------------------------------------------------------ CLI


def _batches(events: list[ScriptedEvent], rate: float) -> Iterator[tuple[int, ScriptedEvent]]:
    interval = 1.0 / rate if rate > 0 else 0.0
    start = time.monotonic()
    for index, event in enumerate(events):
        if interval:
            delay = start + index * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield index, event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twitch_irc_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=None, help="port (default 6667, 6697 with --tls)")
    parser.add_argument("--tls", action="store_true", help="TLS with a self-signed certificate")
    parser.add_argument("--cert-dir", type=Path, default=None, help="where the certificate goes (default: a temp dir)")
    parser.add_argument("--token", default=None, help="the only OAuth token accepted (default: any oauth: token)")
    parser.add_argument("--channels", default="examplestreamer,koreanchat,speedrun", help="comma-separated")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--generate", type=int, default=0, metavar="N", help="generate N events")
    source.add_argument("--script", type=Path, help="JSON-lines file of events")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write-script", type=Path, help="write the generated events to this file and exit")
    parser.add_argument("--rate", type=float, default=20.0, help="events per second (0: as fast as possible)")
    parser.add_argument("--ping-interval", type=float, default=60.0, help="seconds between server PINGs (0: never)")
    parser.add_argument("--join-timeout", type=float, default=600.0, help="how long to wait for clients to join")
    parser.add_argument("--drop-after", type=int, default=0, metavar="N", help="abort connections after N events")
    parser.add_argument("--reconnect-after", type=int, default=0, metavar="N", help="send RECONNECT after N events")
    parser.add_argument("--exit-when-done", action="store_true", help="stop after the script (default: keep serving)")
    args = parser.parse_args(argv)

    channels = [c.strip().lstrip("#").lower() for c in args.channels.split(",") if c.strip()]
    events = read_script(args.script) if args.script else generate_events(args.generate, channels, args.seed)
    if args.write_script:
        args.write_script.write_text("".join(e.to_json() + "\n" for e in events), encoding="utf-8")
        print(f"wrote {len(events)} events to {args.write_script}")
        return 0
    context = None
    if args.tls:
        cert_dir = args.cert_dir or Path(tempfile.mkdtemp(prefix="twitch-irc-"))
        cert, key = make_self_signed(cert_dir, [args.bind])
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        print(f"TLS certificate (the client's CA file): {cert}", flush=True)
    port = args.port if args.port is not None else (6697 if args.tls else 6667)
    with ServerThread(host=args.bind, port=port, ssl_context=context, ping_interval=args.ping_interval,
                      token=args.token) as bed:
        print(f"listening on {args.bind}:{bed.port}", flush=True)
        try:
            if events:
                wanted = sorted({e.channel for e in events})
                print(f"waiting for clients in {', '.join('#' + c for c in wanted)}", flush=True)
                bed.wait_joined(wanted, args.join_timeout)
                delivered = 0
                for index, event in _batches(events, args.rate):
                    if args.drop_after and index == args.drop_after:
                        print(f"dropping {bed.call(bed.server.drop_all)} connection(s)", flush=True)
                        bed.wait_joined(wanted, args.join_timeout)
                    if args.reconnect_after and index == args.reconnect_after:
                        print(f"RECONNECT sent to {bed.call(bed.server.send_reconnect)} client(s)", flush=True)
                        bed.wait_joined(wanted, args.join_timeout)
                    delivered += min(1, bed.deliver([event])[0])
                print(f"sent {len(events)} events, {delivered} delivered to at least one client", flush=True)
            while not args.exit_when_done:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        except TimeoutError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
