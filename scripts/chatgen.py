"""Generate Chatty-format chat logs: the demo's bundled sample and as much more as a benchmark needs.

``python -m scripts.chatgen --out DIR [--minutes 10] [--rate 6] [--seed 7] [--channels a,b,c]`` writes one
``#<channel>.log`` per channel in Chatty's default format (``shared/formats/chatty-log.md``): a
``# Log started`` header with the zone, ``[yyyy-MM-dd HH:mm:ss]`` stamps, status symbols, ``Localized (login)``
names, ``/me`` actions, emotes, Korean and English chat, and the other line kinds (BITS before a cheer, BAN,
DELETED, [Notification] subs/gifts/raids, [Points], Viewerstats every three minutes), closed by
``# Log closed`` and ``-``.

Each channel follows a mood script (hype, calm, sad, angry minutes), so a per-minute sentiment table shows the
chat turning. Everything is deterministic for a seed. The phrases are written for this project (no chat data
from anywhere else); emote codes are the public names of Twitch/BTTV/FFZ/7TV emotes.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

ZONE = timezone(timedelta(hours=9))
START = datetime(2024, 5, 1, 21, 0, 0, tzinfo=ZONE)

# Mood -> (phrases, emotes). Korean and English, as a Korean streamer's chat with international viewers reads.
PHRASES: dict[str, tuple[str, ...]] = {
    "hype": (
        "와 미쳤다 ㅋㅋㅋㅋ", "대박 대박", "개꿀잼 ㅋㅋㅋ", "이거지!!", "최고의 플레이", "진짜 잘한다", "갓겜 인정",
        "클립 각", "가즈아", "역시 우리 스트리머", "that was insane", "what a play", "LETS GOOO", "so clean",
        "best stream ever", "this is amazing", "insane clutch", "GG EZ", "love this", "he actually did it",
    ),
    "calm": (
        "안녕하세요", "방금 왔어요", "오늘 뭐해요?", "저녁 먹었어요", "하이하이", "몇 시까지 방송해요?",
        "노래 제목 뭐에요",
        "hello chat", "hi from Brazil", "what game is this", "how long is the stream", "just got here",
        "what rank is he", "first time here", "ok", "brb", "is this live", "what did I miss",
    ),
    "sad": (
        "ㅠㅠ 아깝다", "아 진짜 아쉽다 ㅠㅠ", "눈물 난다 ㅜㅜ", "마지막에 너무 아쉬웠어요", "힘내세요 ㅠㅠ",
        "다음엔 될 거예요",
        "so close ;(", "that hurts", "unlucky", "rip", "sad ending", "noooo", "we were so close",
    ),
    "angry": (
        "노잼", "재미없다", "이게 뭐야 ㅡㅡ", "최악이다", "진짜 못하네", "시간 아깝다", "답답하다",
        "this is boring", "terrible play", "worst game ever", "so bad", "throwing again", "unwatchable",
        "refund", "why would you do that",
    ),
}
EMOTES: dict[str, tuple[str, ...]] = {
    "hype": ("PogChamp", "Pog", "KEKW", "LUL", "Kreygasm", "PogU", "EZ", "catJAM", "<3", "🔥", "😂"),
    "calm": ("HeyGuys", "VoHiYo", "Kappa", "SeemsGood", "4Head", "monkaS", ""),
    "sad": ("BibleThump", "Sadge", "PepeHands", "FeelsBadMan", "😢"),
    "angry": ("ResidentSleeper", "DansGame", "NotLikeThis", "WutFace", "FailFish", "BabyRage"),
}
ACTIONS = ("박수칩니다", "dances around", "손을 흔든다 HeyGuys", "cries BibleThump", "춤춘다 catJAM")
# (display name, login): a Korean display name is logged as "Localized (login)".
VIEWERS = (
    ("시청자", "viewer_one"), ("팬클럽", "fan_club"), ("별빛", "starlight99"), ("고양이", "cat_lover"),
    ("", "gamer_kim"), ("", "viewer2"), ("", "turbo_fan"), ("", "chat_lurker"), ("", "speedy_ray"),
    ("", "night_owl"), ("", "pixel_pusher"), ("", "mint_tea"), ("", "lucky_seven"), ("", "quiet_jay"),
    ("새벽", "dawn_walker"), ("", "bronze_forever"), ("", "cozy_panda"), ("", "retro_rick"),
)
BADGE_SETS = ("", "", "", "%", "%", "$", "%$", "!", "!%", "+", "@", "@%")
MOOD_SCRIPTS = (
    ("calm", "hype", "hype", "calm", "sad", "angry", "calm", "hype", "hype", "sad"),
    ("calm", "calm", "angry", "angry", "calm", "hype", "sad", "sad", "calm", "hype"),
    ("hype", "calm", "sad", "hype", "hype", "calm", "angry", "calm", "hype", "calm"),
)
DEFAULT_CHANNELS = ("examplestreamer", "speedrun_kr", "cozy_english")


@dataclass(frozen=True)
class Line:
    ts: datetime
    channel: str
    body: str  # the line after the timestamp


def _nick(rng: random.Random, badges: str | None = None) -> tuple[str, str]:
    display, login = rng.choice(VIEWERS)
    symbols = rng.choice(BADGE_SETS) if badges is None else badges
    name = f"{display} ({login})" if display else login
    return f"{symbols}{name}", login


def _message(rng: random.Random, mood: str) -> str:
    text = rng.choice(PHRASES[mood])
    emote = rng.choice(EMOTES[mood])
    if emote and rng.random() < 0.6:
        text = f"{text} {' '.join([emote] * rng.choice((1, 1, 1, 2, 3)))}"
    if mood == "hype" and rng.random() < 0.2:
        text = f"{text} {'ㅋ' * rng.randint(3, 9)}"
    return text


def channel_lines(channel: str, index: int, minutes: int, rate: float, rng: random.Random) -> list[Line]:
    """``minutes`` of one channel's chat at about ``rate`` lines a second."""
    script = MOOD_SCRIPTS[index % len(MOOD_SCRIPTS)]
    owner = f"~{channel}"
    lines: list[Line] = []
    t = START + timedelta(seconds=rng.uniform(0, 2))
    end = START + timedelta(minutes=minutes)
    next_stats = START + timedelta(minutes=3)
    viewers = rng.randint(800, 4000)
    while t < end:
        minute = int((t - START).total_seconds() // 60)
        mood = script[minute % len(script)]
        roll = rng.random()
        nick, login = _nick(rng)
        if roll < 0.80:
            lines.append(Line(t, channel, f"<{nick}> {_message(rng, mood)}"))
        elif roll < 0.84:
            lines.append(Line(t, channel, f"<{nick}>* {rng.choice(ACTIONS)}"))
        elif roll < 0.87:
            amount = rng.choice((100, 100, 500, 1000))
            lines.append(Line(t, channel, f"BITS: {login} ({amount})"))
            lines.append(Line(t, channel, f"<{nick}> Cheer{amount} {_message(rng, 'hype')}"))
        elif roll < 0.90:
            months = rng.randint(2, 40)
            lines.append(Line(t, channel, f"[Notification] {login} subscribed at Tier 1. They've subscribed for "
                                          f"{months} months! [{_message(rng, rng.choice(('hype', 'sad')))}]"))
        elif roll < 0.92:
            count = rng.choice((1, 5, 10))
            lines.append(Line(t, channel, f"[Notification] {login} is gifting {count} Tier 1 Subs to {channel}'s "
                                          f"community! They've gifted a total of {count * 3} in the channel!"))
        elif roll < 0.93:
            lines.append(Line(t, channel, f"[Notification] {login} is raiding with a party of "
                                          f"{rng.randint(5, 900)}."))
        elif roll < 0.95:
            lines.append(Line(t, channel, f"[Points] {login} redeemed Hydrate! (500)"))
        elif roll < 0.97:
            victim = rng.choice(("troll_user", "spammer2", "bad_actor", login))
            duration = rng.choice(("(600s) [도배]", "(60s)", "(1s)", "(permanent) [spam bot]"))
            lines.append(Line(t, channel, f"BAN: {victim} {duration}"))
        elif roll < 0.98:
            lines.append(Line(t, channel, f"DELETED: {login} ({_message(rng, 'angry')})"))
        else:
            lines.append(Line(t, channel, f"<@{owner[1:]}> 채팅 규칙 지켜주세요 / please follow the chat rules"))
        if t >= next_stats:
            a = next_stats - timedelta(minutes=3)
            low, high = viewers - rng.randint(0, 80), viewers + rng.randint(0, 80)
            lines.append(Line(t, channel, f"Viewerstats ({a:%H:%M}-{next_stats:%H:%M}): avg:{viewers:,} "
                                          f"min:{low:,} max:{high:,} [3/{low:,}+{high - low}]"))
            lines.append(Line(t, channel, f"VIEWERS: {viewers:,}"))
            viewers += rng.randint(-200, 300)
            next_stats += timedelta(minutes=3)
        t += timedelta(seconds=rng.expovariate(rate))
    return lines


def generate(channels: tuple[str, ...], minutes: int, rate: float, seed: int) -> dict[str, list[Line]]:
    rng = random.Random(seed)
    return {ch: channel_lines(ch, i, minutes, rate, rng) for i, ch in enumerate(channels)}


def render(lines: list[Line], minutes: int) -> str:
    opened = START - timedelta(seconds=2)
    closed = START + timedelta(minutes=minutes, seconds=5)
    out = [f"# Log started: {opened:%Y-%m-%d %H:%M:%S} {opened:%z}"]
    out += [f"[{line.ts:%Y-%m-%d %H:%M:%S}] {line.body}" for line in lines]
    out += [f"# Log closed: {closed:%Y-%m-%d %H:%M:%S} {closed:%z}", "-"]
    return "\n".join(out) + "\n"


def write(out: Path, channels: tuple[str, ...], minutes: int, rate: float, seed: int) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for channel, lines in generate(channels, minutes, rate, seed).items():
        (out / f"#{channel}.log").write_text(render(lines, minutes), encoding="utf-8")
        counts[channel] = len(lines)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.chatgen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the #channel.log files")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1.7, help="lines per second per channel (mean)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--channels", default=",".join(DEFAULT_CHANNELS))
    args = parser.parse_args(argv)
    channels = tuple(c.strip() for c in args.channels.split(",") if c.strip())
    if not channels or args.minutes < 1 or args.rate <= 0:
        parser.error("need at least one channel, --minutes >= 1 and --rate > 0")
    counts = write(args.out, channels, args.minutes, args.rate, args.seed)
    for channel, count in counts.items():
        print(f"chatgen: {args.out / ('#' + channel + '.log')}: {count} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
