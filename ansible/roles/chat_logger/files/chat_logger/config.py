"""The logger's settings: a JSON file (the role renders it), checked as a whole with errors that name the key."""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .logfiles import SPLITS

TOKEN_ENV = "CHAT_LOGGER_OAUTH_TOKEN"
_CHANNEL = re.compile(r"[a-z0-9_]{1,25}")
_NICK = re.compile(r"[a-z0-9_]{1,25}")


class ConfigError(ValueError):
    """A setting that cannot work; the message names it."""


@dataclass
class Config:
    channels: list[str]
    log_dir: Path = Path("/var/lib/chat-logger/logs")
    host: str = "irc.chat.twitch.tv"
    port: int = 6697
    tls: bool = True
    tls_verify: bool = True
    tls_ca_file: str | None = None
    nick: str | None = None
    split: str = "never"
    connect_timeout_s: float = 15.0
    idle_timeout_s: float = 300.0
    pong_timeout_s: float = 20.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 120.0
    healthy_after_s: float = 60.0
    join_limit: int = 20
    join_period_s: float = 10.0
    token: str | None = field(default=None, repr=False)

    @property
    def login_nick(self) -> str:
        return self.nick or f"justinfan{random.randint(10000, 99999)}"


_NUMBERS = {"port", "connect_timeout_s", "idle_timeout_s", "pong_timeout_s", "backoff_initial_s", "backoff_max_s",
            "healthy_after_s", "join_limit", "join_period_s"}


def load_config(path: Path, environ: dict[str, str] | None = None) -> Config:
    """Read and check the JSON settings at ``path``; the OAuth token comes from the environment, never the file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the settings file {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the settings must be a JSON object")
    return config_from_dict(raw, environ if environ is not None else dict(os.environ), origin=str(path))


def config_from_dict(raw: dict[str, Any], environ: dict[str, str], origin: str = "settings") -> Config:
    known = {f.name for f in fields(Config)} - {"token"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{origin}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    channels = raw.get("channels")
    if not isinstance(channels, list) or not channels:
        raise ConfigError(f"{origin}: 'channels' must be a non-empty list of channel names")
    names = []
    for channel in channels:
        name = str(channel).strip().lstrip("#").lower()
        if not _CHANNEL.fullmatch(name):
            raise ConfigError(f"{origin}: channel {channel!r} is not a Twitch channel name (a-z, 0-9, _)")
        if name not in names:
            names.append(name)
    values: dict[str, Any] = {"channels": names}
    for key, value in raw.items():
        if key == "channels" or value is None:
            continue
        if key in _NUMBERS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{origin}: {key!r} must be a positive number, got {value!r}")
            values[key] = int(value) if key in ("port", "join_limit") else float(value)
        elif key in ("tls", "tls_verify"):
            if not isinstance(value, bool):
                raise ConfigError(f"{origin}: {key!r} must be true or false, got {value!r}")
            values[key] = value
        elif key == "log_dir":
            values[key] = Path(str(value))
        else:
            values[key] = str(value)
    config = Config(**values)
    if config.split not in SPLITS:
        raise ConfigError(f"{origin}: 'split' must be one of {', '.join(SPLITS)}, got {config.split!r}")
    if config.port > 65535:
        raise ConfigError(f"{origin}: 'port' {config.port} is out of range")
    if config.nick is not None:
        config.nick = config.nick.lower()
        if not _NICK.fullmatch(config.nick):
            raise ConfigError(f"{origin}: 'nick' {config.nick!r} is not a Twitch login")
    token = environ.get(TOKEN_ENV, "").strip()
    if token:
        if not config.nick or config.nick.startswith("justinfan"):
            raise ConfigError(f"{origin}: an OAuth token ({TOKEN_ENV}) needs 'nick', the account's login")
        config.token = token if token.startswith("oauth:") else f"oauth:{token}"
    if config.tls_ca_file and not Path(config.tls_ca_file).is_file():
        raise ConfigError(f"{origin}: 'tls_ca_file' {config.tls_ca_file} does not exist")
    return config
