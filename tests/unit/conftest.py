"""Unit tests of the spark/ package: put spark/ on sys.path so they run without installing it."""

from __future__ import annotations

import sys
from pathlib import Path

SPARK_DIR = Path(__file__).resolve().parents[2] / "spark"
if str(SPARK_DIR) not in sys.path:
    sys.path.insert(0, str(SPARK_DIR))
