"""Where the project keeps what lives outside the repository (caches, test-bed state)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    """Root of every cache: ``$CHAT_SENTIMENT_CACHE`` or ``/var/cache/chat-sentiment``."""
    return Path(os.environ.get("CHAT_SENTIMENT_CACHE", "/var/cache/chat-sentiment"))


def mirror_root() -> Path:
    """The artifact mirror served to the test bed (see scripts/README.md for its layout)."""
    return cache_root() / "mirror"


def image_root() -> Path:
    """Debian 12 images built by debootstrap."""
    return cache_root() / "images"
