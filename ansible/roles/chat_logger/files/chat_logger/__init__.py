"""A headless Twitch chat logger writing Chatty's log format (stdlib only, Python 3.9+).

Modules: :mod:`.irc` parses Twitch IRC lines, :mod:`.chatty` turns them into Chatty log lines, :mod:`.logfiles`
keeps one file per channel, :mod:`.config` reads the settings, :mod:`.client` holds the connection loop and
``python -m chat_logger`` (:mod:`.__main__`) runs it.
"""

__version__ = "1.0.0"
