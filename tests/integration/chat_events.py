"""Filebeat events carrying real-format Chatty lines, as the shipper puts them on the ``twitch-chat`` topic.

:class:`ChatLog` plays a Chatty log per channel: each line gets the next byte offset of its file, the way Filebeat
reports ``log.offset``, so re-sending an event keeps its id (path + offset) and the job must drop the copy.
The lines follow ``shared/formats/chatty-log.md``: ``[yyyy-MM-dd HH:mm:ss]`` stamps in the logger's zone
(+0900 here), status symbols, ``Localized (login)`` names, ``/me`` actions, emotes, Korean and English text, and the
non-chat kinds (BAN, DELETED, BITS, Notification, Viewerstats).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

TZ = timezone(timedelta(hours=9))
LOG_DIR = "/home/chat/.chatty/logs"

NICKS = (
    "~스트리머 (examplestreamer)", "%시청자 (viewer_one)", "@%ModName", "!$gamer_kim", "viewer2", "+turbo_fan",
    "$viewer5", "%%팬클럽 (fan_club)", "^Nightbot", "chat_lurker",
)
MESSAGES = (
    "안녕하세요 여러분", "ㅋㅋㅋㅋㅋ KEKW", "PogChamp that was insane", "노잼 ResidentSleeper", "개꿀잼 ㅋㅋㅋ",
    "this stream is so bad NotLikeThis", "와 대박 PogChamp PogChamp", "ㅠㅠ 슬프다 BibleThump", "gg wp",
    "Kappa 진짜?", "I love this song <3", "채팅 규칙 지켜주세요", "LUL LUL LUL", "Cheer100 가즈아",
    "what a terrible play DansGame", "오늘 방송 최고 ❤️", "별로네요 재미없어", "lol that was hilarious",
    "진짜 못하네 ㅡㅡ", "good morning chat HeyGuys", "헐 미쳤다 ㄷㄷ", "boring... 4Head", "최고의 플레이 Kreygasm",
    "just arrived, what did I miss?",
)
ACTIONS = ("박수칩니다", "dances around", "손을 흔든다 HeyGuys", "cries BibleThump")
NON_CHAT = (
    ("ban", "BAN: troll_user (600s) [도배], spammer2"),
    ("notification", "[Notification] viewer3 subscribed at Tier 1. They've subscribed for 5 months! [5개월 ㅠㅠ]"),
    ("viewerstats", "Viewerstats (21:00-21:03): avg:1,234 min:1,200 max:1,260 [3/1,200+34+26]"),
    ("deleted", "DELETED: viewer4 (욕 메시지)"),
    ("bits", "BITS: viewer5 (100)"),
)


@dataclass
class Sent:
    """What was put on Kafka and what the job must make of it."""

    value: bytes
    expect: str  # message | action | <non-chat kind> | dead_letter
    channel: str | None = None
    resend: bool = False  # a copy of an earlier event (same path and offset)
    why: str = ""  # for a dead letter: a phrase its reason must hold


@dataclass
class ChatLog:
    """Chatty log files of several channels, written line by line, shipped as Filebeat events."""

    offsets: dict[str, int] = field(default_factory=dict)

    def event(self, channel: str, local: datetime, line_body: str) -> bytes:
        line = f"[{local:%Y-%m-%d %H:%M:%S}] {line_body}"
        path = f"{LOG_DIR}/#{channel}.log"
        offset = self.offsets.get(path, 0)
        self.offsets[path] = offset + len(line.encode("utf-8")) + 1
        shipped = local.astimezone(UTC) + timedelta(milliseconds=700)
        event = {
            "@timestamp": shipped.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "log": {"offset": offset, "file": {"path": path}},
            "message": line,
            "fields": {"tz": "+0900"},
            "host": {"name": "shipper1"},
            "input": {"type": "filestream"},
            "ecs": {"version": "1.12.0"},
        }
        return json.dumps(event, ensure_ascii=False).encode("utf-8")


def garbage(log: ChatLog, channel: str, local: datetime, number: int) -> Sent:
    """One record the job cannot parse, of ``number % 5`` kinds; the reason is in its dead letter."""
    kind = number % 5
    if kind == 0:
        return Sent(b"this is not JSON {" + str(number).encode(), "dead_letter")
    if kind == 1:
        return Sent(json.dumps({"@timestamp": "2024-05-01T12:00:00Z", "message": number}).encode(), "dead_letter")
    if kind == 2:  # a Chatty line cut inside its timestamp
        value = log.event(channel, local, "x").replace(f"[{local:%Y-%m-%d %H:%M:%S}] x".encode(),
                                                         f"[{local:%Y-%m-%d %H}:0".encode())
        return Sent(value, "dead_letter")
    if kind == 3:  # not a Chatty log file: no channel
        event = json.loads(log.event(channel, local, "<viewer2> hi"))
        event["log"]["file"]["path"] = f"/var/log/syslog.{number}"
        return Sent(json.dumps(event).encode(), "dead_letter")
    return Sent(b"\xff\xfe broken utf-8 " + str(number).encode(), "dead_letter")


def make_events(log: ChatLog, start: datetime, count: int, seed: int, channels: tuple[str, ...]) -> list[Sent]:
    """``count`` records from ``start`` (local time in +0900) on: ~80 % chat messages and actions, ~12 % other
    line kinds, ~5 % garbage, and ~3 % re-sends of earlier events. Times advance one to two seconds a record."""
    rng = random.Random(seed)
    out: list[Sent] = []
    local = start
    for number in range(count):
        local += timedelta(seconds=rng.choice((1, 1, 2)))
        channel = rng.choice(channels)
        roll = rng.random()
        if roll < 0.03 and any(s.expect != "dead_letter" for s in out):
            original = rng.choice([s for s in out if s.expect != "dead_letter"])
            out.append(Sent(original.value, original.expect, original.channel, resend=True))
        elif roll < 0.08:
            out.append(garbage(log, channel, local, number))
        elif roll < 0.20:
            kind, body = rng.choice(NON_CHAT)
            out.append(Sent(log.event(channel, local, body), kind, channel))
        elif roll < 0.30:
            body = f"<{rng.choice(NICKS)}>* {rng.choice(ACTIONS)}"
            out.append(Sent(log.event(channel, local, body), "action", channel))
        else:
            body = f"<{rng.choice(NICKS)}> {rng.choice(MESSAGES)}"
            out.append(Sent(log.event(channel, local, body), "message", channel))
    return out


def chat_line(log: ChatLog, channel: str, local: datetime, text: str) -> Sent:
    return Sent(log.event(channel, local, f"<viewer2> {text}"), "message", channel)


def poison(log: ChatLog, channel: str, local: datetime, marker: str) -> list[Sent]:
    """Records that once stopped the job (a batch failed on them, again after each restart), and records that make
    the job's parser or scorer raise on purpose (``marker``: its ``CHAT_SENTIMENT_FAULT_MARKER``); each must end as
    a dead letter whose reason holds ``why``, and the job must go on."""
    def placeholder(body: str, old: bytes, new: bytes) -> bytes:
        return log.event(channel, local, body).replace(old, new)

    no_stamp = json.loads(log.event(channel, local, "x"))
    no_stamp.update({"@timestamp": "9999-12-31T23:59:59Z", "message": "<viewer2> a line without a time"})
    return [
        Sent(log.event(channel, datetime(9999, 12, 31, 23, 59, 59, tzinfo=TZ), "<viewer2> from the year 9999"),
             "dead_letter", why="outside the range the job stores"),
        Sent(log.event(channel, datetime(2300, 1, 1, 0, 0, 0, tzinfo=TZ), "<viewer2> from 2300"),
             "dead_letter", why="outside the range the job stores"),
        Sent(placeholder("<viewer2> a lone LONESURROGATE here", b"LONESURROGATE", b"\\ud800"), "dead_letter",
             why="not valid Unicode"),
        Sent(placeholder("<viewer2> path", f"#{channel}.log".encode(), f"#{channel}\\udc00.log".encode()),
             "dead_letter", why="not valid Unicode"),
        Sent(json.dumps(no_stamp).encode(), "dead_letter", why="outside the range the job stores"),
        Sent(log.event(channel, local, f"<viewer2> {marker}:parse makes the parser raise"), "dead_letter",
             why="parser error: InjectedFault"),
        Sent(log.event(channel, local, f"<viewer2> {marker}:score makes the scorer raise"), "dead_letter",
             why="scorer 'lexicon' failed on this message: InjectedFault"),
    ]


def local_time(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)
