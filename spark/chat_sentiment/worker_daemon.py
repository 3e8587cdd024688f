"""Spark's Python worker daemon with the job's modules loaded once (``spark.python.daemon.module``).

Spark forks one Python worker per running Python task from a daemon process. Stock ``pyspark.daemon`` imports
little, so every new worker imports pandas, pyarrow and this package and builds the lexicon again (seconds each,
more on a busy host). This daemon does that once before forking; the workers share it copy-on-write. Nothing is
printed: the daemon's stdout carries its port to the JVM.
"""

from __future__ import annotations

import pandas  # noqa: F401 - imported for the forked workers
import pyarrow  # noqa: F401
from pyspark import daemon

from . import aggregate, frames  # noqa: F401
from .emotes import default_emotes
from .lexicon import default_lexicon


def main() -> None:
    default_lexicon()
    default_emotes()
    daemon.manager()


if __name__ == "__main__":
    main()
