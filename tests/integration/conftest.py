"""Fixtures shared by the integration tests: the mirror's Kafka tarballs and Spark Kafka connector jars.

Building them is a no-op once the mirror has them (the manifest still matches); a cold mirror needs ``mvn`` and the
network to Maven Central. The helpers that run a broker from a tarball are in ``kafka_local.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.mirror import connectors
from scripts.mirror import kafka as kafka_mirror
from scripts.paths import mirror_root


@pytest.fixture(scope="session")
def kafka_tarballs() -> dict[str, Path]:
    """Kafka version -> the mirror's ``kafka_2.13-<ver>.tgz``."""
    return dict(zip(kafka_mirror.KAFKA_VERSIONS, kafka_mirror.build(mirror_root()), strict=True))


@pytest.fixture(scope="session")
def connector_jars() -> list[Path]:
    """The four Spark Kafka connector jars in the mirror, then their list file (``maven2/spark-kafka-*.txt``)."""
    return connectors.build(mirror_root())
