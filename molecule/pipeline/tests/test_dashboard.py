"""The dashboard on p1 (web, job and shipper on one host) in a real browser, and what httpd does not serve.

Debian's Chromium on the controller (selenium, /usr/bin/chromedriver) loads http://<p1>/ over the bed's bridge while
the bundled sample is replayed; the page's numbers for every closed minute of the replayed channels must equal
``chat-sentiment report --json`` on the host; a second replay closes a newer minute, which the page shows without a
reload; with chat flowing the job is stopped and the health strip must turn stale (then the job is started again).
The job's tables, dead letters and their metadata are never reachable over HTTP; the feed lets in the web host only.
The tests themselves are in molecule/shared/dashboard.py, shared with molecule/kafka-cluster.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import dashboard

# The shared tests, collected here (pytest keeps the order they are bound in: one page, one replay after another)
# and run with this module's bed.
globals().update((test.__name__, test) for test in dashboard.TESTS)


@pytest.fixture(scope="module")
def bed(host) -> Iterator[dashboard.Bed]:
    with dashboard.opened(web=host, job=host, shipper=host, name="pipeline") as opened:
        yield opened
