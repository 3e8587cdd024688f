"""The dashboard on the cluster (web kc1, job kc2, shipper kc3) in a real browser, and what httpd does not serve.

Debian's Chromium on the controller (selenium, /usr/bin/chromedriver) loads http://<kc1>/ over the bed's bridge while
the bundled sample is replayed; the page's numbers for every closed minute of the replayed channels must equal
``chat-sentiment report --json`` on kc2; a second replay closes a newer minute, which the page shows without a
reload; with chat flowing the job is stopped and the health strip must turn stale (then the job is started again).
The job's tables, dead letters and their metadata are never reachable over HTTP; the feed lets in the web host only.
The tests themselves are in molecule/shared/dashboard.py, shared with molecule/pipeline.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import dashboard

# The shared tests, collected here (pytest keeps the order they are bound in: one page, one replay after another)
# and run with this module's bed.
globals().update((test.__name__, test) for test in dashboard.TESTS)


@functools.cache
def node(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


@pytest.fixture(scope="module")
def bed(host) -> Iterator[dashboard.Bed]:
    variables = host.ansible.get_variables()
    groups = variables["groups"]
    if variables["inventory_hostname"] != groups["web"][0]:
        pytest.skip("the browser loads the page from the web host")
    with dashboard.opened(web=host, job=node(groups["spark"][0]), shipper=node(groups["shipper"][0]),
                          name="cluster") as opened:
        yield opened
