"""One Chatty log file per channel: opened with a ``# Log started`` header, closed with ``# Log closed`` and ``-``.

Files are opened in append mode, mode 0640 (group-readable for a shipper), line-buffered, so every line is in the
file as soon as it is written. With the daily split the file is ``yyyy-MM-dd_#channel.log`` and switches at local
midnight. :meth:`ChannelLogs.reopen` (SIGHUP, after logrotate moved the files) closes every open file and opens
its path again.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable, TextIO

from . import chatty

LOG = logging.getLogger("chat_logger.logfiles")
SPLITS = ("never", "daily")
FILE_MODE = 0o640


def local_now() -> datetime:
    """The current local time, aware (its offset is the host's zone, or TZ's)."""
    return datetime.now().astimezone()


@dataclass
class _OpenLog:
    path: Path
    day: date | None
    handle: TextIO


class ChannelLogs:
    """The open log files, by channel."""

    def __init__(self, directory: Path, split: str = "never", clock: Callable[[], datetime] = local_now) -> None:
        if split not in SPLITS:
            raise ValueError(f"log split {split!r} is not one of {', '.join(SPLITS)}")
        self.directory = directory
        self.split = split
        self.clock = clock
        self._open: dict[str, _OpenLog] = {}

    def path_for(self, channel: str, now: datetime) -> Path:
        day = now.date() if self.split == "daily" else None
        return self.directory / chatty.log_file_name(channel, day)

    def ensure_open(self, channel: str, now: datetime | None = None) -> Path:
        """Open the channel's file (with its header) unless it is open; switch files at midnight when split."""
        now = now or self.clock()
        day = now.date() if self.split == "daily" else None
        current = self._open.get(channel)
        if current is not None and current.day != day:
            self._close(channel, now)
            current = None
        if current is None:
            path = self.path_for(channel, now)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
            handle = os.fdopen(fd, "a", buffering=1, encoding="utf-8", newline="\n")
            handle.write(chatty.header("started", now) + "\n")
            current = self._open[channel] = _OpenLog(path=path, day=day, handle=handle)
            LOG.info("logging #%s to %s", channel, path)
        return current.path

    def write(self, channel: str, lines: list[str], now: datetime | None = None) -> None:
        """Write the lines, each after the timestamp of ``now``."""
        now = now or self.clock()
        self.ensure_open(channel, now)
        stamp = chatty.timestamp(now)
        self._open[channel].handle.write("".join(f"{stamp} {line}\n" for line in lines))

    def reopen(self) -> None:
        """Close every open file and open its path again (after logrotate renamed it)."""
        now = self.clock()
        channels = list(self._open)
        for channel in channels:
            self._close(channel, now)
        for channel in channels:
            self.ensure_open(channel, now)
        LOG.info("reopened %d log file(s)", len(channels))

    def close_all(self) -> None:
        now = self.clock()
        for channel in list(self._open):
            self._close(channel, now)

    def _close(self, channel: str, now: datetime) -> None:
        current = self._open.pop(channel)
        try:
            current.handle.write(chatty.header("closed", now) + "\n-\n")
        finally:
            current.handle.close()

    @property
    def channels(self) -> list[str]:
        return sorted(self._open)
