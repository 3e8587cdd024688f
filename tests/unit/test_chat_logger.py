"""The chat logger (ansible/roles/chat_logger/files/chat_logger): Twitch IRC parsing, Chatty formatting, log files,
settings, backoff, and one session over a socket pair. Every formatted line is read back with the job's parser
(``chat_sentiment.chatty``), which is what matters downstream."""

from __future__ import annotations

import ast
import os
import socket
import stat
import sys
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from chat_sentiment.chatty import ChattyContext, ChattyLogReader, parse_line
from chat_sentiment.records import ChatEvent

ROLE = Path(__file__).resolve().parents[2] / "ansible" / "roles" / "chat_logger"
PROGRAM_DIR = ROLE / "files"
if str(PROGRAM_DIR) not in sys.path:
    sys.path.insert(0, str(PROGRAM_DIR))

from chat_logger import chatty, client, config, irc, logfiles  # noqa: E402

KST = timezone(timedelta(hours=9))
CTX = ChattyContext(channel="examplestreamer", tz=KST, date=date(2024, 5, 1))

PRIVMSG_KOREAN = (
    "@badge-info=subscriber/12;badges=subscriber/12,bits/100;color=#1E90FF;display-name=시청자;emotes=25:0-4;"
    "first-msg=0;flags=;id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=0;returning-chatter=0;room-id=1337;"
    "subscriber=1;tmi-sent-ts=1714564803000;turbo=0;user-id=12345;user-type= "
    ":viewer_one!viewer_one@viewer_one.tmi.twitch.tv PRIVMSG #ExampleStreamer :Kappa ㅋㅋㅋㅋㅋ 대박"
)


def chatty_line(line: str) -> ChatEvent:
    """A logged line (timestamp added) parsed by the job's parser; fails the test on a dead letter."""
    record = parse_line(f"[2024-05-01 21:00:03] {line}", CTX)
    assert isinstance(record, ChatEvent), f"{line!r} -> {record}"
    return record


def render(raw: str) -> tuple[str, list[str]]:
    rendered = chatty.render(irc.parse_message(raw))
    assert rendered is not None
    return rendered


# ------------------------------------------------------------------------------------------------ IRC


@pytest.mark.parametrize(("escaped", "value"), [
    ("a\\sb\\sc", "a b c"),
    ("semi\\:colon", "semi;colon"),
    ("back\\\\slash", "back\\slash"),
    ("cr\\rlf\\n", "cr\rlf\n"),
    ("unknown\\x", "unknownx"),
    ("trailing\\", "trailing"),
    ("", ""),
])
def test_tag_values_unescape(escaped: str, value: str) -> None:
    assert irc.unescape_tag_value(escaped) == value


def test_tag_escaping_round_trips() -> None:
    value = "They've subscribed; for 5 months! \\o/\r\n"
    assert irc.unescape_tag_value(irc.escape_tag_value(value)) == value
    assert " " not in irc.escape_tag_value(value)


def test_privmsg_with_tags_parses() -> None:
    message = irc.parse_message(PRIVMSG_KOREAN + "\r\n")
    assert message.command == "PRIVMSG"
    assert message.params == ["#ExampleStreamer", "Kappa ㅋㅋㅋㅋㅋ 대박"]
    assert message.nick == "viewer_one"
    assert message.tags["display-name"] == "시청자"
    assert message.tags["user-type"] == ""
    assert message.tags["badges"] == "subscriber/12,bits/100"


@pytest.mark.parametrize(("line", "command", "params", "nick"), [
    ("PING :tmi.twitch.tv", "PING", ["tmi.twitch.tv"], None),
    (":tmi.twitch.tv 001 justinfan123 :Welcome, GLHF!", "001", ["justinfan123", "Welcome, GLHF!"], None),
    (":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands", "CAP",
     ["*", "ACK", "twitch.tv/tags twitch.tv/commands"], None),
    (":justinfan1!justinfan1@justinfan1.tmi.twitch.tv JOIN #chan", "JOIN", ["#chan"], "justinfan1"),
    (":tmi.twitch.tv RECONNECT", "RECONNECT", [], None),
    (":u!u@u.tmi.twitch.tv PRIVMSG #c :: starts with a colon :)", "PRIVMSG", ["#c", ": starts with a colon :)"], "u"),
    (":u!u@u.tmi.twitch.tv PRIVMSG #c :", "PRIVMSG", ["#c", ""], "u"),
    ("@ban-duration=600;room-id=1 :tmi.twitch.tv CLEARCHAT #c :troll", "CLEARCHAT", ["#c", "troll"], None),
])
def test_irc_lines_parse(line: str, command: str, params: list[str], nick: str | None) -> None:
    message = irc.parse_message(line)
    assert (message.command, message.params, message.nick) == (command, params, nick)


@pytest.mark.parametrize("line", ["", "@tags-only", ":prefix-only", "@a=b :p", ":p 12 x", "!!! what"])
def test_malformed_irc_lines_raise_with_the_line(line: str) -> None:
    with pytest.raises(irc.IrcParseError, match="IRC line"):
        irc.parse_message(line)


def test_format_message_puts_spaces_in_the_trailing_parameter() -> None:
    assert irc.format_message("PONG", "tmi.twitch.tv") == "PONG tmi.twitch.tv"
    assert irc.format_message("PRIVMSG", "#c", "hi there") == "PRIVMSG #c :hi there"
    assert irc.parse_message(irc.format_message("X", "a", tags={"k": "v w;"})).tags == {"k": "v w;"}


# ------------------------------------------------------------------------------------------------ Chatty lines


@pytest.mark.parametrize(("badges", "symbols"), [
    (set(), ""),
    ({"broadcaster", "moderator", "vip", "subscriber", "bits", "turbo", "bot-badge"}, "~!%$+^"),
    ({"moderator", "staff"}, "&"),
    ({"moderator", "subscriber"}, "@%"),
    ({"founder", "premium"}, "%"),
    ({"vip", "bits"}, "!$"),
    ({"admin"}, "&"),
])
def test_status_symbols_follow_chattys_order(badges: set[str], symbols: str) -> None:
    assert chatty.status_symbols(badges) == symbols


def test_badge_flags_count_when_badges_are_missing() -> None:
    assert chatty.badge_names({"badges": "", "mod": "1", "subscriber": "1"}) == {"moderator", "subscriber"}


@pytest.mark.parametrize(("display", "login", "expected"), [
    ("시청자", "viewer_one", "시청자 (viewer_one)"),
    ("ViewerOne", "viewerone", "ViewerOne"),
    ("", "viewerone", "viewerone"),
    ("has space", "viewerone", "viewerone"),
    ("@sneaky", "viewerone", "viewerone"),
    ("Other", "viewerone", "Other (viewerone)"),
])
def test_full_nick_is_localized_with_login(display: str, login: str, expected: str) -> None:
    assert chatty.full_nick({"display-name": display}, login) == expected


def test_korean_privmsg_becomes_a_chat_line_the_parser_reads() -> None:
    channel, lines = render(PRIVMSG_KOREAN)
    assert channel == "examplestreamer"
    assert lines == ["<%$시청자 (viewer_one)> Kappa ㅋㅋㅋㅋㅋ 대박"]
    event = chatty_line(lines[0])
    assert (event.kind, event.user, event.display_name, event.text) == (
        "message", "viewer_one", "시청자", "Kappa ㅋㅋㅋㅋㅋ 대박")
    assert event.badges == ["subscriber", "bits"]


def test_action_is_marked_with_a_star() -> None:
    _, lines = render("@badges=broadcaster/1;display-name=Streamer :streamer!streamer@streamer.tmi.twitch.tv "
                      "PRIVMSG #streamer :\x01ACTION waves at chat\x01")
    assert lines == ["<~Streamer>* waves at chat"]
    event = chatty_line(lines[0])
    assert (event.kind, event.user, event.text, event.badges) == ("action", "streamer", "waves at chat",
                                                                 ["broadcaster"])


def test_bits_line_comes_before_the_cheer() -> None:
    _, lines = render("@badges=bits/100;bits=250;display-name=치어퀸 :cheer_queen!cheer_queen@x PRIVMSG #c "
                      ":Cheer250 가즈아")
    assert lines == ["BITS: cheer_queen (250)", "<$치어퀸 (cheer_queen)> Cheer250 가즈아"]
    bits, message = (chatty_line(line) for line in lines)
    assert (bits.kind, bits.user, bits.attrs["bits"]) == ("bits", "cheer_queen", 250)
    assert (message.kind, message.user, message.text) == ("message", "cheer_queen", "Cheer250 가즈아")


def test_resub_notification_keeps_system_text_and_message() -> None:
    raw = ("@badges=subscriber/6;display-name=viewer3;login=viewer3;msg-id=resub;msg-param-cumulative-months=5;"
           "system-msg=viewer3\\ssubscribed\\sat\\sTier\\s1.\\sThey've\\ssubscribed\\sfor\\s5\\smonths!;"
           "tmi-sent-ts=1 :tmi.twitch.tv USERNOTICE #c :5개월 ㅠㅠ")
    _, lines = render(raw)
    assert lines == ["[Notification] viewer3 subscribed at Tier 1. They've subscribed for 5 months! [5개월 ㅠㅠ]"]
    event = chatty_line(lines[0])
    assert (event.kind, event.user, event.text) == ("notification", "viewer3", "5개월 ㅠㅠ")
    assert event.attrs["system_text"] == "viewer3 subscribed at Tier 1. They've subscribed for 5 months!"


def test_notification_without_a_message_or_system_msg() -> None:
    assert render("@system-msg=5\\sraiders\\sfrom\\sFoo\\shave\\sjoined! :tmi.twitch.tv USERNOTICE #c")[1] == [
        "[Notification] 5 raiders from Foo have joined!"]
    assert render("@display-name=Foo;msg-id=announcement :tmi.twitch.tv USERNOTICE #c :hello all")[1] == [
        "[Notification] Foo announcement [hello all]"]


@pytest.mark.parametrize(("raw", "line", "duration"), [
    ("@ban-duration=600;room-id=1;target-user-id=2 :tmi.twitch.tv CLEARCHAT #c :Troll_User",
     "BAN: troll_user (600s)", 600),
    ("@room-id=1;target-user-id=2 :tmi.twitch.tv CLEARCHAT #c :spammer2", "BAN: spammer2", None),
])
def test_clearchat_becomes_a_ban_line(raw: str, line: str, duration: int | None) -> None:
    assert render(raw)[1] == [line]
    event = chatty_line(line)
    assert event.kind == "ban"
    assert event.attrs["bans"][0]["duration_s"] == duration


def test_ban_reason_is_kept_in_brackets() -> None:
    line = render("@ban-duration=60;ban-reason=도배\\s[spam] :tmi.twitch.tv CLEARCHAT #c :troll")[1][0]
    assert line == "BAN: troll (60s) [도배 (spam)]"
    assert chatty_line(line).attrs["bans"][0]["reason"] == "도배 (spam)"


def test_clearchat_without_user_is_a_system_line() -> None:
    line = render("@room-id=1 :tmi.twitch.tv CLEARCHAT #c")[1][0]
    assert chatty_line(line).kind == "system"


def test_clearmsg_becomes_a_deleted_line() -> None:
    _, lines = render("@login=viewer4;room-id=;target-msg-id=abc;tmi-sent-ts=1 :tmi.twitch.tv CLEARMSG #c :욕 (메시지)")
    assert lines == ["DELETED: viewer4 (욕 (메시지))"]
    event = chatty_line(lines[0])
    assert (event.kind, event.user, event.text) == ("deleted", "viewer4", "욕 (메시지)")


def test_channel_notice_is_plain_text_and_other_commands_are_not_logged() -> None:
    assert render("@msg-id=slow_on :tmi.twitch.tv NOTICE #c :This room is now in slow mode.")[1] == [
        "This room is now in slow mode."]
    for raw in (":tmi.twitch.tv NOTICE * :Login authentication failed", "@slow=0 :tmi.twitch.tv ROOMSTATE #c",
                ":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!", ":u!u@u.tmi.twitch.tv JOIN #c"):
        assert chatty.render(irc.parse_message(raw)) is None


def test_control_characters_and_line_separators_never_split_or_spoil_a_line() -> None:
    _, lines = render(":u!u@u.tmi.twitch.tv PRIVMSG #c :a\x02bold\x0f\u2028b\x7fc")
    assert lines == ["<u> a bold  b c"]
    assert chatty_line(lines[0]).text == "a bold  b c"


@pytest.mark.parametrize(("channel", "day", "name"), [
    ("examplestreamer", None, "#examplestreamer.log"),
    ("#Mixed_Case", None, "#mixed_case.log"),
    ("chatrooms:123:abc-def", None, "#chatrooms_123_abc-def.log"),
    ('a%."*/:<>?\\|+,;=[]z', None, "#a" + "_" * 17 + "z.log"),  # the 17 characters of the format document
    ("examplestreamer", date(2024, 5, 1), "2024-05-01_#examplestreamer.log"),
])
def test_log_file_names_follow_chatty(channel: str, day: date | None, name: str) -> None:
    assert chatty.log_file_name(channel, day) == name


def test_header_has_the_zone() -> None:
    now = datetime(2024, 5, 1, 20, 59, 58, tzinfo=KST)
    assert chatty.header("started", now) == "# Log started: 2024-05-01 20:59:58 +0900"
    assert chatty.timestamp(now) == "[2024-05-01 20:59:58]"


# ------------------------------------------------------------------------------------------------ files


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def read_events(path: Path) -> list[ChatEvent]:
    reader = ChattyLogReader.for_path(str(path))
    records = [reader.feed(line) for line in path.read_bytes().splitlines(keepends=True)]
    assert all(isinstance(r, ChatEvent) for r in records), records
    return records  # type: ignore[return-value]


def test_log_file_has_headers_lines_and_mode(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2024, 5, 1, 20, 59, 58, tzinfo=KST))
    logs = logfiles.ChannelLogs(tmp_path, clock=clock)
    path = logs.ensure_open("examplestreamer")
    clock.now += timedelta(seconds=5)
    logs.write("examplestreamer", render(PRIVMSG_KOREAN)[1])
    assert path.read_text(encoding="utf-8").splitlines()[-1].startswith("[2024-05-01 21:00:03] <%$시청자")
    logs.close_all()
    assert stat.S_IMODE(path.stat().st_mode) & 0o777 == 0o640 & ~_umask()
    text = path.read_text(encoding="utf-8")
    assert text == ("# Log started: 2024-05-01 20:59:58 +0900\n"
                    "[2024-05-01 21:00:03] <%$시청자 (viewer_one)> Kappa ㅋㅋㅋㅋㅋ 대박\n"
                    "# Log closed: 2024-05-01 21:00:03 +0900\n-\n")
    events = read_events(path)
    assert [e.kind for e in events] == ["header", "message", "header", "header"]
    assert events[1].channel == "examplestreamer"
    assert events[1].ts == datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_lines_are_in_the_file_before_close(tmp_path: Path) -> None:
    logs = logfiles.ChannelLogs(tmp_path)
    logs.write("c", ["<u> first"])
    assert (tmp_path / "#c.log").read_text(encoding="utf-8").endswith("<u> first\n")
    logs.close_all()


def test_daily_split_switches_files_at_midnight(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2024, 5, 1, 23, 59, 59, tzinfo=KST))
    logs = logfiles.ChannelLogs(tmp_path, split="daily", clock=clock)
    logs.write("c", ["<u> before midnight"])
    clock.now += timedelta(seconds=2)
    logs.write("c", ["<u> after midnight"])
    logs.close_all()
    first, second = tmp_path / "2024-05-01_#c.log", tmp_path / "2024-05-02_#c.log"
    assert first.read_text(encoding="utf-8").splitlines()[-2] == "# Log closed: 2024-05-02 00:00:01 +0900"
    assert second.read_text(encoding="utf-8").splitlines()[0] == "# Log started: 2024-05-02 00:00:01 +0900"
    assert [e.text for e in read_events(second) if e.kind == "message"] == ["after midnight"]
    assert [e.text for e in read_events(first) if e.kind == "message"] == ["before midnight"]


def test_reopen_after_logrotate_moved_the_file(tmp_path: Path) -> None:
    logs = logfiles.ChannelLogs(tmp_path)
    logs.write("c", ["<u> one"])
    (tmp_path / "#c.log").rename(tmp_path / "#c.log.1")
    logs.write("c", ["<u> two"])  # still into the moved file, like any writer before SIGHUP
    logs.reopen()
    logs.write("c", ["<u> three"])
    logs.close_all()
    rotated = (tmp_path / "#c.log.1").read_text(encoding="utf-8").splitlines()
    fresh = (tmp_path / "#c.log").read_text(encoding="utf-8").splitlines()
    assert [line.split("> ")[-1] for line in rotated if "<u>" in line] == ["one", "two"]
    assert rotated[-2].startswith("# Log closed:") and rotated[-1] == "-"
    assert fresh[0].startswith("# Log started:")
    assert fresh[1].endswith("<u> three")


def test_unknown_split_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="weekly"):
        logfiles.ChannelLogs(tmp_path, split="weekly")


# ------------------------------------------------------------------------------------------------ settings


def test_settings_load_and_normalise(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"channels": ["#ExampleStreamer", "koreanchat", "examplestreamer"], "port": 6667, '
                    '"tls": false, "split": "daily", "log_dir": "/x"}', encoding="utf-8")
    loaded = config.load_config(path, environ={})
    assert loaded.channels == ["examplestreamer", "koreanchat"]
    assert (loaded.port, loaded.tls, loaded.split, loaded.log_dir) == (6667, False, "daily", Path("/x"))
    assert loaded.token is None
    assert loaded.login_nick.startswith("justinfan") and loaded.login_nick[9:].isdigit()


@pytest.mark.parametrize(("raw", "message"), [
    ({"channels": []}, "'channels' must be a non-empty list"),
    ({"channels": ["no spaces allowed"]}, "is not a Twitch channel name"),
    ({"channels": ["a"], "colour": "red"}, "unknown setting.*colour"),
    ({"channels": ["a"], "port": "6697"}, "'port' must be a positive number"),
    ({"channels": ["a"], "port": 70000}, "out of range"),
    ({"channels": ["a"], "tls": "yes"}, "'tls' must be true or false"),
    ({"channels": ["a"], "split": "hourly"}, "'split' must be one of"),
    ({"channels": ["a"], "tls_ca_file": "/nonexistent/ca.pem"}, "does not exist"),
])
def test_bad_settings_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.config_from_dict(raw, environ={})


def test_token_comes_from_the_environment_and_needs_a_nick() -> None:
    environ = {config.TOKEN_ENV: "abc123secret"}
    with pytest.raises(config.ConfigError, match="needs 'nick'"):
        config.config_from_dict({"channels": ["a"]}, environ)
    loaded = config.config_from_dict({"channels": ["a"], "nick": "MyBot"}, environ)
    assert (loaded.nick, loaded.token, loaded.login_nick) == ("mybot", "oauth:abc123secret", "mybot")
    assert "abc123secret" not in repr(loaded)


# ------------------------------------------------------------------------------------------------ backoff, joins


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    backoff = client.Backoff(1.0, 30.0)
    delays = [backoff.next_delay() for _ in range(10)]
    for attempt, delay in enumerate(delays):
        ceiling = min(30.0, 2.0 ** attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[6:]}) > 1  # jittered, not a fixed cap
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_join_limiter_allows_twenty_per_ten_seconds() -> None:
    limiter = client.JoinLimiter(20, 10.0)
    for _ in range(20):
        assert limiter.allowed(100.0) > 0
        limiter.record(100.0)
    assert limiter.allowed(105.0) == 0
    assert limiter.allowed(110.0) == 20


# ------------------------------------------------------------------------------------------------ a session


class Peer:
    """The server end of a socket pair: what the session sent, and a way to answer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(f"{line}\r\n" for line in lines).encode("utf-8"))

    def expect(self, prefix: str) -> str:
        self.sock.settimeout(5)
        while True:
            while b"\r\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\r\n", 1)
                line = raw.decode("utf-8")
                if line.startswith(prefix):
                    return line
            data = self.sock.recv(4096)
            assert data, f"connection closed before {prefix!r}"
            self.buffer += data


def start_session(tmp_path: Path, **settings: object) -> tuple[client.Session, Peer, list[client.SessionResult],
                                                             threading.Thread]:
    ours, theirs = socket.socketpair()
    ours.settimeout(0.05)
    cfg = config.config_from_dict({"channels": ["a", "b", "c"], "join_limit": 2, "join_period_s": 1.0,
                                   **settings}, environ={})
    session = client.Session(sock=ours, config=cfg, logs=logfiles.ChannelLogs(tmp_path), flags=client.StopFlags(),
                             limiter=client.JoinLimiter(cfg.join_limit, cfg.join_period_s), nick="justinfan4242")
    results: list[client.SessionResult] = []
    thread = threading.Thread(target=lambda: results.append(session.run()), daemon=True)
    thread.start()
    return session, Peer(theirs), results, thread


def test_session_logs_in_joins_at_the_rate_answers_ping_and_writes(tmp_path: Path) -> None:
    session, peer, results, thread = start_session(tmp_path)
    assert peer.expect("CAP REQ") == "CAP REQ :twitch.tv/tags twitch.tv/commands"
    assert peer.expect("NICK") == "NICK justinfan4242"
    peer.send(":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands",
              ":tmi.twitch.tv 001 justinfan4242 :Welcome, GLHF!")
    assert peer.expect("JOIN") == "JOIN #a"
    assert peer.expect("JOIN") == "JOIN #b"
    peer.send("PING :tmi.twitch.tv")
    assert peer.expect("PONG") == "PONG tmi.twitch.tv"
    assert "JOIN #c" not in peer.buffer.decode()  # the third waits for the limiter's window
    assert peer.expect("JOIN") == "JOIN #c"
    peer.send(":justinfan4242!justinfan4242@justinfan4242.tmi.twitch.tv JOIN #a", PRIVMSG_KOREAN.replace(
        "#ExampleStreamer", "#a"))
    peer.send(":tmi.twitch.tv RECONNECT")
    thread.join(5)
    assert results[0].reason == "reconnect" and results[0].welcomed
    session.logs.close_all()
    events = read_events(tmp_path / "#a.log")
    assert [(e.kind, e.user, e.channel) for e in events if e.kind == "message"] == [
        ("message", "viewer_one", "a")]


def test_session_detects_a_dead_connection(tmp_path: Path) -> None:
    _, peer, results, thread = start_session(tmp_path, idle_timeout_s=0.3, pong_timeout_s=0.3)
    peer.send(":tmi.twitch.tv 001 justinfan4242 :Welcome, GLHF!")
    assert peer.expect("PING") == "PING :chat-logger"
    thread.join(5)
    assert results[0].reason == "dead"


def test_session_stops_on_refused_login_and_on_close(tmp_path: Path) -> None:
    _, peer, results, thread = start_session(tmp_path)
    peer.send(":tmi.twitch.tv NOTICE * :Login authentication failed")
    thread.join(5)
    assert results[0].reason == "auth" and not results[0].welcomed
    _, peer, results, thread = start_session(tmp_path)
    peer.sock.close()
    thread.join(5)
    assert results[0].reason in ("closed", "error")


def test_session_sends_quit_on_terminate(tmp_path: Path) -> None:
    session, peer, results, thread = start_session(tmp_path)
    session.flags.terminate = True
    assert peer.expect("QUIT") == "QUIT"
    thread.join(5)
    assert results[0].reason == "terminate"


# ------------------------------------------------------------------------------------------------ deployability


def _program_files() -> list[Path]:
    return sorted((PROGRAM_DIR / "chat_logger").glob("*.py"))


@pytest.mark.parametrize("path", _program_files(), ids=lambda p: p.name)
def test_program_is_python39_stdlib_only(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 9))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            assert node.module is not None
            top = node.module.split(".")[0]
            assert top == "__future__" or top in sys.stdlib_module_names, f"{path.name}: {node.module}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in sys.stdlib_module_names, f"{path.name}: {alias.name}"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "datetime":
            assert node.attr != "UTC", f"{path.name}: datetime.UTC is Python 3.11+"


def test_role_installs_every_module() -> None:
    installed = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__chat_logger_modules"]
    assert sorted(installed) == [p.name for p in _program_files()]
