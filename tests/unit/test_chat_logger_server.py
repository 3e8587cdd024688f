"""The Twitch-dialect test server (scripts/twitch_irc_server.py): its lines are what Twitch sends, read by the
chat logger's own IRC parser, and a raw client sees Twitch's login, capability and JOIN behaviour."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.twitch_irc_server import ScriptedEvent, ServerThread, emotes_tag, generate_events, main, read_script

PROGRAM_DIR = Path(__file__).resolve().parents[2] / "ansible" / "roles" / "chat_logger" / "files"
if str(PROGRAM_DIR) not in sys.path:
    sys.path.insert(0, str(PROGRAM_DIR))

from chat_logger import irc  # noqa: E402


def test_emote_ranges_count_code_points() -> None:
    assert emotes_tag("ㅋㅋ Kappa 가즈아 Kappa PogChamp") == "25:3-7,13-17/305954156:19-26"
    assert emotes_tag("no emotes here") == ""


def test_resub_line_has_twitch_tags_and_escaped_system_msg() -> None:
    event = ScriptedEvent("resub", "#Chan", "viewer_one", "시청자", "5개월 ㅠㅠ", "subscriber/6", months=5)
    line = event.to_irc(1714564803000)
    assert "system-msg=시청자\\ssubscribed\\sat\\sTier\\s1.\\sThey've\\ssubscribed\\sfor\\s5\\smonths!" in line
    message = irc.parse_message(line)
    assert (message.command, message.params) == ("USERNOTICE", ["#chan", "5개월 ㅠㅠ"])
    assert message.tags["system-msg"] == event.system_msg()
    assert message.tags["msg-id"] == "resub" and message.tags["login"] == "viewer_one"
    assert message.tags["tmi-sent-ts"] == "1714564803000"


def test_chat_cheer_and_moderation_lines() -> None:
    cheer = irc.parse_message(ScriptedEvent("cheer", "c", "u", "U", "Cheer100 hi", "bits/100", bits=100).to_irc())
    assert cheer.tags["bits"] == "100" and cheer.tags["badges"] == "bits/100" and cheer.nick == "u"
    assert list(cheer.tags) == sorted(cheer.tags)  # Twitch sends tags in alphabetical order
    action = irc.parse_message(ScriptedEvent("action", "c", "u", text="waves").to_irc())
    assert action.params[1] == "\x01ACTION waves\x01"
    timeout = irc.parse_message(ScriptedEvent("timeout", "c", "troll", duration=600).to_irc())
    assert (timeout.command, timeout.params, timeout.tags["ban-duration"]) == ("CLEARCHAT", ["#c", "troll"], "600")
    ban = irc.parse_message(ScriptedEvent("ban", "c", "troll").to_irc())
    assert "ban-duration" not in ban.tags
    delete = irc.parse_message(ScriptedEvent("delete", "c", "u", text="bad; words", target_msg_id="abc").to_irc())
    assert (delete.command, delete.params[1], delete.tags["target-msg-id"]) == ("CLEARMSG", "bad; words", "abc")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="event kind 'whisper'"):
        ScriptedEvent("whisper", "c")


def test_generated_script_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    assert main(["--generate", "50", "--channels", "a,b", "--seed", "3", "--write-script", str(path)]) == 0
    events = read_script(path)
    assert [e.to_json() for e in events] == path.read_text(encoding="utf-8").splitlines()
    assert [e.text for e in events] == [e.text for e in generate_events(50, ["a", "b"], seed=3)]
    assert {e.channel for e in events} == {"a", "b"}
    (tmp_path / "bad.jsonl").write_text('{"kind": "message", "channel": "a", "colour": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: unknown event field\(s\) colour"):
        read_script(tmp_path / "bad.jsonl")


@pytest.fixture
def bed() -> Iterator[ServerThread]:
    with ServerThread(host="127.0.0.1", port=0) as server:
        yield server


class RawClient:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(f"{line}\r\n" for line in lines).encode())

    def until(self, needle: str) -> list[str]:
        """Lines up to and including the first containing ``needle``."""
        lines: list[str] = []
        while True:
            while b"\r\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\r\n", 1)
                lines.append(raw.decode("utf-8"))
                if needle in lines[-1]:
                    return lines
            data = self.sock.recv(4096)
            assert data, f"closed before {needle!r}; got {lines}"
            self.buffer += data


def test_anonymous_login_join_and_tagged_chat(bed: ServerThread) -> None:
    client = RawClient(bed.port)
    client.send("CAP REQ :twitch.tv/tags twitch.tv/commands", "NICK justinfan12345")
    lines = client.until(" 376 ")
    assert lines[0] == ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands"
    assert ":tmi.twitch.tv 001 justinfan12345 :Welcome, GLHF!" in lines
    client.send("JOIN #chan", "PING :hello")
    lines = client.until("PONG")
    assert lines[0] == ":justinfan12345!justinfan12345@justinfan12345.tmi.twitch.tv JOIN #chan"
    assert any(" ROOMSTATE #chan" in line and line.startswith("@") for line in lines)
    assert lines[-1] == ":tmi.twitch.tv PONG tmi.twitch.tv :hello"
    bed.wait_joined(["chan"])
    assert bed.deliver([ScriptedEvent("timeout", "chan", "troll", duration=60)]) == [1]
    assert client.until("CLEARCHAT")[-1].startswith("@ban-duration=60;")
    assert bed.call(bed.server.send_reconnect) == 1
    assert client.until("RECONNECT")[-1] == ":tmi.twitch.tv RECONNECT"


def test_without_capabilities_no_tags_and_no_moderation_commands(bed: ServerThread) -> None:
    client = RawClient(bed.port)
    client.send("NICK justinfan1", "JOIN #chan")
    client.until("366")
    bed.wait_joined(["chan"])
    bed.deliver([ScriptedEvent("ban", "chan", "troll"), ScriptedEvent("message", "chan", "u", text="hi")])
    line = client.until("PRIVMSG")[-1]
    assert line == ":u!u@u.tmi.twitch.tv PRIVMSG #chan :hi"  # no tags, and the CLEARCHAT never came


def test_a_named_nick_without_token_is_refused(bed: ServerThread) -> None:
    client = RawClient(bed.port)
    client.send("NICK somebody")
    assert client.until("NOTICE")[-1] == ":tmi.twitch.tv NOTICE * :Improperly formatted auth"
    assert client.sock.recv(100) == b""
