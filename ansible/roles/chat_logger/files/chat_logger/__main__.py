"""``python -m chat_logger --config /etc/chat-logger/config.json``: run the logger until SIGTERM/SIGINT.

SIGHUP reopens the log files (for logrotate). ``--check-config`` only checks the settings (the role uses it to
validate the file it renders). Exit codes: 0 after a clean stop, 2 for bad settings, 1 for an unexpected error.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from . import __version__
from .client import StopFlags, run
from .config import ConfigError, load_config
from .logfiles import ChannelLogs

LOG = logging.getLogger("chat_logger")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat_logger", description="Log Twitch chat in Chatty's format.")
    parser.add_argument("--config", type=Path, default=Path("/etc/chat-logger/config.json"),
                        help="JSON settings file (default: %(default)s)")
    parser.add_argument("--check-config", action="store_true", help="check the settings and exit")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        LOG.error("%s", exc)
        return 2
    if args.check_config:
        print(f"{args.config}: OK, {len(config.channels)} channel(s)")
        return 0
    if not config.log_dir.is_dir():
        LOG.error("the log directory %s does not exist", config.log_dir)
        return 2
    flags = StopFlags()

    def stop(signum: int, _frame: FrameType | None) -> None:
        LOG.info("signal %s: closing the logs", signal.Signals(signum).name)
        flags.terminate = True

    def reopen(_signum: int, _frame: FrameType | None) -> None:
        flags.reopen = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reopen)
    logs = ChannelLogs(config.log_dir, config.split)
    LOG.info("chat_logger %s: channels %s, logs in %s", __version__, ", ".join(config.channels), config.log_dir)
    try:
        run(config, logs, flags)
    finally:
        logs.close_all()
    LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
