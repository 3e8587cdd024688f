"""Chatty log lines in the real format of shared/formats/chatty-log.md."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from chat_sentiment.chatty import (
    MAX_LINE_CHARS,
    ChattyContext,
    ChattyLogReader,
    channel_and_date_from_path,
    parse_line,
    parse_zone,
    split_attached,
)
from chat_sentiment.records import KINDS, ChatEvent, DeadLetter

KST = timezone(timedelta(hours=9))
CTX = ChattyContext(channel="examplestreamer", tz=KST, date=date(2024, 5, 1))

# Every example line of the format document, in order.
DOC_EXAMPLE = """\
# Log started: 2024-05-01 20:59:58 +0900
[2024-05-01 21:00:03] <~스트리머 (examplestreamer)> 안녕하세요 여러분
[2024-05-01 21:00:05] <%시청자 (viewer_one)> ㅋㅋㅋㅋㅋ KEKW
[2024-05-01 21:00:07] <@%ModName> 채팅 규칙 지켜주세요
[2024-05-01 21:00:09] <viewer2>* 박수칩니다
[2024-05-01 21:00:10] <!$gamer_kim> PogChamp that was insane
[2024-05-01 21:00:12] [Notification] viewer3 subscribed at Tier 1. They've subscribed for 5 months! [5개월 ㅠㅠ]
[2024-05-01 21:00:15] BAN: troll_user (600s) [도배], spammer2
[2024-05-01 21:00:20] DELETED: viewer4 (욕 메시지)
[2024-05-01 21:00:22] BITS: viewer5 (100)
[2024-05-01 21:00:22] <$viewer5> Cheer100 가즈아
[2024-05-01 21:03:00] Viewerstats (21:00-21:03): avg:1,234 min:1,200 max:1,260 [3/1,200+34+26]
# Log closed: 2024-05-01 23:00:00 +0900
-
"""


def event(line: str, ctx: ChattyContext = CTX) -> ChatEvent:
    record = parse_line(line, ctx)
    assert isinstance(record, ChatEvent), f"expected an event for {line!r}, got {record}"
    return record


def dead(line: str | bytes, ctx: ChattyContext = CTX) -> DeadLetter:
    record = parse_line(line, ctx)
    assert isinstance(record, DeadLetter), f"expected a dead letter for {line!r}, got {record}"
    return record


def kst(hour: int, minute: int, second: int, day: int = 1) -> datetime:
    return datetime(2024, 5, day, hour, minute, second, tzinfo=KST).astimezone(UTC)


# ------------------------------------------------------------------------------------------ the doc example


def test_doc_example_every_line_parses_to_the_documented_kind() -> None:
    reader = ChattyLogReader.for_path("/home/chat/.chatty/logs/#examplestreamer.log")
    records = [reader.feed(line.encode("utf-8")) for line in DOC_EXAMPLE.splitlines(keepends=True)]
    assert all(isinstance(r, ChatEvent) for r in records), [r for r in records if isinstance(r, DeadLetter)]
    kinds = [r.kind for r in records]  # type: ignore[union-attr]
    assert kinds == ["header", "message", "message", "message", "action", "message", "notification", "ban",
                     "deleted", "bits", "message", "viewerstats", "header", "header"]
    assert {r.channel for r in records} == {"examplestreamer"}  # type: ignore[union-attr]
    assert len({r.id for r in records}) == len(records)  # type: ignore[union-attr]


def test_doc_example_fields() -> None:
    reader = ChattyLogReader.for_path("/home/chat/.chatty/logs/#examplestreamer.log")
    r = [reader.feed(line) for line in DOC_EXAMPLE.splitlines()]
    started, streamer, viewer, mod, action, gamer, notif, ban, deleted, bits, cheer, stats, closed, sep = r
    assert started.attrs == {"event": "started", "local_time": "2024-05-01T20:59:58+09:00", "utc_offset": "+09:00"}
    assert started.ts == kst(20, 59, 58)
    assert (streamer.user, streamer.display_name, streamer.badges) == ("examplestreamer", "스트리머", ["broadcaster"])
    assert streamer.text == "안녕하세요 여러분" and streamer.ts == kst(21, 0, 3)
    assert streamer.ts.isoformat() == "2024-05-01T12:00:03+00:00"
    assert (viewer.user, viewer.display_name, viewer.badges) == ("viewer_one", "시청자", ["subscriber"])
    assert viewer.emotes == ["KEKW"]
    assert (mod.user, mod.display_name, mod.badges) == ("modname", "ModName", ["moderator", "subscriber"])
    assert (action.kind, action.user, action.text) == ("action", "viewer2", "박수칩니다")
    assert gamer.badges == ["vip", "bits"] and gamer.emotes == ["PogChamp"]
    assert notif.user == "viewer3" and notif.text == "5개월 ㅠㅠ"
    assert notif.attrs["system_text"] == "viewer3 subscribed at Tier 1. They've subscribed for 5 months!"
    assert ban.attrs["bans"] == [{"user": "troll_user", "duration_s": 600, "reason": "도배"},
                                 {"user": "spammer2", "duration_s": None}]
    assert (deleted.user, deleted.text) == ("viewer4", "욕 메시지")
    assert (bits.user, bits.attrs) == ("viewer5", {"bits": 100})
    assert cheer.emotes == ["Cheer100"] and cheer.badges == ["bits"]
    assert stats.attrs == {"period_start": "21:00", "period_end": "21:03", "avg": 1234, "min": 1200, "max": 1260,
                           "details": "3/1,200+34+26"}
    assert closed.attrs["event"] == "closed" and closed.ts == kst(23, 0, 0)
    assert sep.attrs == {"event": "separator"}
    assert not any(x.scored for x in (started, notif, ban, deleted, bits, stats, closed, sep))
    assert all(x.scored for x in (streamer, viewer, mod, action, gamer, cheer))


def test_only_documented_kinds_are_produced() -> None:
    reader = ChattyLogReader.for_path("#examplestreamer.log")
    for line in DOC_EXAMPLE.splitlines():
        record = reader.feed(line)
        assert isinstance(record, ChatEvent) and record.kind in KINDS


# ------------------------------------------------------------------------------------------ timestamps


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("[2024-05-01 21:00:03]", kst(21, 0, 3)),  # default
        ("[21:00:03]", kst(21, 0, 3)),  # HH:mm:ss, date from the context
        ("[09:00:03 PM]", kst(21, 0, 3)),  # hh:mm:ss a
        ("[09:00:03PM]", kst(21, 0, 3)),  # hh:mm:ssa
        ("[2024-05-01 09:00:03 PM]", kst(21, 0, 3)),  # yyyy-MM-dd hh:mm:ss a
        ("[2024-05-01 09:00:03PM]", kst(21, 0, 3)),  # yyyy-MM-dd hh:mm:ssa
        ("[12:00:03 AM]", kst(0, 0, 3)),  # midnight hour in 12-hour style
        ("[12:30:00 PM]", kst(12, 30, 0)),  # noon
        ("[09:00:03 am]", kst(9, 0, 3)),
        ("[09:00:03 오후]", kst(21, 0, 3)),  # Java's Korean locale marker
        ("[2024-05-01 09:00:03 오전]", kst(9, 0, 3)),
    ],
)
def test_timestamp_styles(stamp: str, expected: datetime) -> None:
    record = event(f"{stamp} <viewer> hello")
    assert record.ts == expected
    assert record.ts.tzinfo is UTC
    assert record.text == "hello"


def test_no_timestamp_style_uses_the_fallback_time() -> None:
    fallback = datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC)
    ctx = ChattyContext(channel="c", fallback_ts=fallback)
    record = event("<viewer> hello there", ctx)
    assert (record.kind, record.ts, record.text) == ("message", fallback, "hello there")
    assert event("<viewer> hello", ChattyContext(channel="c")).ts is None


def test_time_only_stamp_without_a_date_is_a_dead_letter() -> None:
    letter = dead("[21:00:03] <viewer> hi", ChattyContext(channel="c", tz=KST))
    assert "time-only timestamp [21:00:03]" in letter.reason and "no date" in letter.reason


def test_time_only_stamp_takes_the_date_nearest_the_shipper_time() -> None:
    near = datetime(2024, 5, 1, 15, 0, 1, tzinfo=UTC)  # 00:00:01 on May 2 in KST
    ctx = ChattyContext(channel="c", tz=KST, near=near)
    assert event("[23:59:59] <v> late", ctx).ts == kst(23, 59, 59, day=1)
    assert event("[00:00:01] <v> early", ctx).ts == kst(0, 0, 1, day=2)


def test_time_only_stamp_never_before_the_file_date() -> None:
    near = datetime(2024, 5, 1, 14, 59, 0, tzinfo=UTC)  # 23:59 May 1 KST
    ctx = ChattyContext(channel="c", tz=KST, near=near, not_before=date(2024, 5, 2))
    assert event("[00:00:10] <v> x", ctx).ts == kst(0, 0, 10, day=2)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[2024-05-01 21:0", "malformed or truncated timestamp"),
        ("[2024-05-01 21:00:03", "malformed or truncated timestamp"),
        ("[2024-13-45 21:00:03] <v> x", "invalid timestamp"),
        ("[2024-05-01 25:61:00] <v> x", "invalid timestamp"),
        ("[13:00:03 PM] <v> x", "invalid timestamp"),
        ("[2024-05-01 21:00:03]", "nothing after the timestamp"),
        ("[2024-05-01 21:00:03]   ", "nothing after the timestamp"),
        ("[2024-05-01 21:00:03]<v> x", "no space after the timestamp"),
    ],
)
def test_bad_timestamps_are_dead_letters(line: str, reason: str) -> None:
    assert reason in dead(line).reason


# ------------------------------------------------------------------------------------------ nicks and badges


@pytest.mark.parametrize(
    ("nick", "badges"),
    [
        ("~streamer", ["broadcaster"]),
        ("&staffer", ["staff"]),
        ("@mod", ["moderator"]),
        ("!vip", ["vip"]),
        ("%sub", ["subscriber"]),
        ("$cheerer", ["bits"]),
        ("+turbo", ["turbo"]),
        ("^somebot", ["bot"]),
        ("~!%$+^all", ["broadcaster", "vip", "subscriber", "bits", "turbo", "bot"]),
        ("@%$modsub", ["moderator", "subscriber", "bits"]),
        ("%@outoforder", ["moderator", "subscriber"]),  # listed in the documented order whatever the input order
        ("plain", []),
    ],
)
def test_status_symbols(nick: str, badges: list[str]) -> None:
    record = event(f"[2024-05-01 21:00:03] <{nick}> hi")
    assert record.badges == badges
    assert record.user == nick.lstrip("~&@!%$+^").lower()


def test_localized_name_gives_display_name_and_login() -> None:
    record = event("[2024-05-01 21:00:03] <@%한글닉네임 (korean_login99)> 안녕")
    assert (record.display_name, record.user, record.badges) == ("한글닉네임", "korean_login99",
                                                                 ["moderator", "subscriber"])
    record = event("[2024-05-01 21:00:03] <日本語名 (jp_user)> こんにちは")
    assert (record.display_name, record.user) == ("日本語名", "jp_user")


def test_capitalised_display_name_gives_lower_case_login() -> None:
    record = event("[2024-05-01 21:00:03] <CoolViewer_42> gg")
    assert (record.display_name, record.user) == ("CoolViewer_42", "coolviewer_42")


def test_action_and_message_text_keep_angle_brackets_and_stars() -> None:
    action = event("[2024-05-01 21:00:03] <%viewer>* waves <3 *hug*")
    assert (action.kind, action.text, action.emotes) == ("action", "waves <3 *hug*", ["<3"])
    message = event("[2024-05-01 21:00:03] <viewer> a > b and <c>")
    assert (message.kind, message.text) == ("message", "a > b and <c>")


def test_emotes_are_extracted_in_order_with_repeats() -> None:
    record = event("[2024-05-01 21:00:03] <v> KEKW KEKW monkaS 🔥 lirikHYPE, Cheer500 plain words")
    assert record.emotes == ["KEKW", "KEKW", "monkaS", "🔥", "lirikHYPE", "Cheer500"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[2024-05-01 21:00:03] <viewer", "without the closing '>'"),
        ("[2024-05-01 21:00:03] <viewer>", "without message text"),
        ("[2024-05-01 21:00:03] <viewer> ", "without message text"),
        ("[2024-05-01 21:00:03] <viewer>*", "without message text"),
        ("[2024-05-01 21:00:03] <two words> hi", "malformed nick"),
        ("[2024-05-01 21:00:03] <Name (bad login!)> hi", "malformed nick"),
    ],
)
def test_malformed_chat_lines_are_dead_letters(line: str, reason: str) -> None:
    assert reason in dead(line).reason


# ------------------------------------------------------------------------------------------ other kinds


def test_merged_bans_with_and_without_durations_and_reasons() -> None:
    record = event("[2024-05-01 21:00:15] BAN: a (600s) [spam, links], b (1s), c [reason with ] bracket], d")
    assert record.kind == "ban" and record.user == "a"
    assert record.attrs["bans"] == [
        {"user": "a", "duration_s": 600, "reason": "spam, links"},
        {"user": "b", "duration_s": 1},
        {"user": "c", "duration_s": None, "reason": "reason with ] bracket"},
        {"user": "d", "duration_s": None},
    ]


def test_single_permanent_ban() -> None:
    assert event("[2024-05-01 21:00:15] BAN: troll").attrs["bans"] == [{"user": "troll", "duration_s": None}]


@pytest.mark.parametrize(
    "line",
    ["[2024-05-01 21:00:15] BAN:", "[2024-05-01 21:00:15] BAN: ", "[2024-05-01 21:00:15] BAN: a (600s) [open"],
)
def test_malformed_bans(line: str) -> None:
    assert "BAN" in dead(line).reason


def test_deleted_with_parentheses_inside() -> None:
    record = event("[2024-05-01 21:00:20] DELETED: viewer4 (text (with) parens)")
    assert (record.kind, record.user, record.text) == ("deleted", "viewer4", "text (with) parens")
    assert not record.scored


def test_bits_with_thousands_separator() -> None:
    assert event("[2024-05-01 21:00:22] BITS: whale (10,000)").attrs == {"bits": 10000}


def test_mod_action() -> None:
    record = event("[2024-05-01 21:00:22] MOD_ACTION: modnick (timeout troll 600 (spam))")
    assert (record.kind, record.user, record.attrs) == ("mod_action", "modnick",
                                                        {"command": "timeout troll 600 (spam)"})


@pytest.mark.parametrize("kind", ["MOD", "UNMOD", "JOIN", "PART"])
def test_mod_unmod_join_part(kind: str) -> None:
    record = event(f"[2024-05-01 21:00:22] {kind}: Some_User")
    assert (record.kind, record.user) == (kind.lower(), "some_user")


def test_join_with_several_nicks() -> None:
    record = event("[2024-05-01 21:00:22] JOIN: a, b, c")
    assert record.attrs == {"users": ["a", "b", "c"]}


def test_notification_without_attached_message() -> None:
    record = event("[2024-05-01 21:00:12] [Notification] raider123 is raiding with a party of 52.")
    assert (record.kind, record.user, record.text) == ("notification", "raider123", None)
    assert record.attrs["system_text"] == "raider123 is raiding with a party of 52."
    counted = event("[2024-05-01 21:00:13] [Notification] 802 raiders from turbo_fan have joined!")
    assert (counted.kind, counted.user) == ("notification", None)


def test_notification_with_brackets_inside_the_attached_message() -> None:
    record = event("[2024-05-01 21:00:12] [Notification] gifter gifted a Tier 1 sub to x! [thanks [really] <3]")
    assert record.text == "thanks [really] <3"


def test_points_redemption() -> None:
    record = event("[2024-05-01 21:00:12] [Points] viewer6 redeemed Hydrate (500) [물 마셔요]")
    assert (record.kind, record.user, record.text) == ("points", "viewer6", "물 마셔요")


def test_viewerstats_and_viewers() -> None:
    stats = event("[2024-05-01 21:03:00] Viewerstats (21:00-21:03): avg:1,234 min:1,200 max:1,260")
    assert (stats.attrs["avg"], stats.attrs["min"], stats.attrs["max"]) == (1234, 1200, 1260)
    assert "details" not in stats.attrs
    assert event("[2024-05-01 21:03:00] VIEWERS: 12,521").attrs == {"viewers": 12521}
    assert "VIEWERS" in dead("[2024-05-01 21:03:00] VIEWERS: lots").reason
    assert "Viewerstats" in dead("[2024-05-01 21:03:00] Viewerstats (21:00-21:03): nothing").reason


def test_plain_system_text() -> None:
    record = event("[2024-05-01 21:00:00] You have joined #examplestreamer")
    assert (record.kind, record.text, record.scored) == ("system", "You have joined #examplestreamer", False)


def test_headers_with_other_zones() -> None:
    record = event("# Log started: 2024-12-31 23:59:59 -0500")
    assert record.ts == datetime(2025, 1, 1, 4, 59, 59, tzinfo=UTC)
    assert record.attrs["utc_offset"] == "-05:00"
    assert event("# Log closed: 2024-05-01 10:00:00 +05:30").attrs["utc_offset"] == "+05:30"
    assert "malformed log header" in dead("# Log started: yesterday").reason
    assert "malformed log header" in dead("# Log started: 2024-02-30 10:00:00 +0900").reason


# ------------------------------------------------------------------------------------------ garbage


def test_garbage_and_edge_lines_are_dead_letters_with_reasons() -> None:
    assert dead("").reason == "empty line"
    assert "blank line" in dead("   \t").reason
    assert "invalid UTF-8 at byte 22" in dead(b"[2024-05-01 21:00:03] \xff\xfe<v> x").reason
    assert "control character U+0000" in dead("[2024-05-01 21:00:03] <v> a\x00b").reason
    long_line = "[2024-05-01 21:00:03] <v> " + "a" * (1 << 20)
    letter = dead(long_line)
    assert f"over the limit of {MAX_LINE_CHARS}" in letter.reason and len(letter.raw) <= 4096
    assert "cut to its first" in letter.reason


def test_bytes_with_crlf_and_bom_are_accepted() -> None:
    record = event(b"\xef\xbb\xbf[2024-05-01 21:00:03] <v> hi\r\n")  # type: ignore[arg-type]
    assert record.text == "hi"


def test_parse_line_never_raises_on_odd_input() -> None:
    odd = ["[", "<", ">", "[]", "[Notification]", "[Points] ", "BITS: x (abc)", "DELETED: x", "MOD_ACTION: m",
           "MOD:", "# Log ", "#", "--", "[2024-05-01 21:00:03] [Notification]", "\u2028", "💀" * 10]
    for line in odd:
        record = parse_line(line, CTX)
        assert isinstance(record, ChatEvent | DeadLetter)
        if isinstance(record, DeadLetter):
            assert record.reason and record.raw == line


def test_require_timestamp_turns_unstamped_lines_into_dead_letters() -> None:
    ctx = ChattyContext(channel="c", require_timestamp=True)
    assert "no timestamp" in dead("some text", ctx).reason


# ------------------------------------------------------------------------------------------ the file reader


def test_reader_rolls_the_date_over_at_midnight_for_time_only_stamps() -> None:
    reader = ChattyLogReader.for_path("#chan.log")
    lines = ["# Log started: 2024-05-01 23:58:00 +0900", "[23:59:58] <a> one", "[00:00:02] <b> two",
             "[00:10:00] <c> three"]
    records = [reader.feed(line + "\n") for line in lines]
    assert [r.ts for r in records[1:]] == [kst(23, 59, 58), kst(0, 0, 2, day=2), kst(0, 10, 0, day=2)]


def test_reader_requires_timestamps_once_seen_and_ids_follow_byte_offsets() -> None:
    line = "[2024-05-01 21:00:00] <a> 한글\n".encode()
    reader = ChattyLogReader.for_path("/logs/#chan.log")
    first = reader.feed(line)
    second = reader.feed(b"no stamp here\n")
    assert isinstance(first, ChatEvent) and isinstance(second, DeadLetter)
    assert second.origin == f"/logs/#chan.log:{len(line)}"
    again = ChattyLogReader.for_path("/logs/#chan.log").feed(line)
    assert again.id == first.id


def test_reader_uses_the_split_file_date_for_time_only_stamps() -> None:
    reader = ChattyLogReader.for_path("/logs/2024-05-03_#chan.log", tz=KST)
    assert reader.feed("[10:00:00] <a> hi").ts == kst(10, 0, 0, day=3)


# ------------------------------------------------------------------------------------------ file names


@pytest.mark.parametrize(
    ("path", "channel", "day"),
    [
        ("/home/u/.chatty/logs/#examplestreamer.log", "examplestreamer", None),
        ("#examplestreamer.log", "examplestreamer", None),
        ("/logs/#ExampleStreamer-1.log", "examplestreamer", None),
        ("/logs/#chan-2.log", "chan", None),
        ("/logs/2024-05-01_#chan.log", "chan", date(2024, 5, 1)),
        ("/logs/#chan/2024-05-01_#chan.log", "chan", date(2024, 5, 1)),
        ("/logs/#chan/#chan.log", "chan", None),
        ("/logs/#chan/something-else.log", "chan", None),
        ("C:\\Users\\me\\.chatty\\logs\\#chan.log", "chan", None),
        ("C:\\Users\\me\\.chatty\\logs\\#chan\\2024-05-06_#chan-1.log", "chan", date(2024, 5, 6)),
        ("/logs/#chatrooms_12345_abc.log", "chatrooms_12345_abc", None),
        ("/var/log/messages", None, None),
        ("/logs/chan.log", None, None),
        ("", None, None),
    ],
)
def test_channel_and_date_from_path(path: str, channel: str | None, day: date | None) -> None:
    assert channel_and_date_from_path(path) == (channel, day)


def test_for_path_rejects_non_chatty_paths() -> None:
    with pytest.raises(ValueError, match="cannot tell the channel"):
        ChattyLogReader.for_path("/var/log/syslog")


@pytest.mark.parametrize(
    ("text", "offset"),
    [("+0900", timedelta(hours=9)), ("+09:00", timedelta(hours=9)), ("-0430", timedelta(hours=-4, minutes=-30)),
     ("Z", timedelta(0)), ("UTC", timedelta(0))],
)
def test_parse_zone_offsets(text: str, offset: timedelta) -> None:
    assert parse_zone(text).utcoffset(None) == offset


def test_parse_zone_names_and_errors() -> None:
    assert parse_zone("Asia/Seoul").utcoffset(datetime(2024, 5, 1)) == timedelta(hours=9)
    with pytest.raises(ValueError, match="Mars/Base"):
        parse_zone("Mars/Base")
    with pytest.raises(ValueError, match="nine"):
        parse_zone("nine")


def test_split_attached() -> None:
    assert split_attached("a b [c]") == ("a b", "c")
    assert split_attached("a b") == ("a b", None)
    assert split_attached("[only]") == ("[only]", None)
    assert split_attached("x [a] y") == ("x [a] y", None)
