"""The streaming job run as a process on this machine, for the integration tests: Spark local mode against the
Kafka of ``kafka_local.py``, started exactly as the systemd unit starts it (``python -m chat_sentiment.stream
--config FILE`` in its own process group, settings from the file and ``CHAT_SENTIMENT_*`` variables).

Shared by ``test_stream.py`` and ``test_stream_fallback.py``. Waits poll with bounded timeouts; nothing is timed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pytest
from chat_sentiment import tables

from tests.integration.kafka_local import tail

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def spark_settings(connector_jars: Sequence[Path]) -> str:
    """The ``[spark]`` tables of a test job's TOML: two local cores, the mirror's connector jars, a small JVM."""
    jars = ", ".join(json.dumps(str(jar)) for jar in connector_jars if jar.suffix == ".jar")
    return f"""\
[spark]
master = "local[2]"
shuffle_partitions = 1
jars = [{jars}]

[spark.conf]
"spark.ui.enabled" = "false"
"spark.driver.memory" = "768m"
# a short-lived JVM on shared cores: C1 only (the C2 compiler's work never pays off in a few minutes), one GC thread
"spark.driver.extraJavaOptions" = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
"""


def job_environment(**variables: str) -> dict[str, str]:
    """This process's environment with the repository's ``spark/`` package importable by the job and its Python
    workers, plus ``variables``."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "spark"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "PYSPARK_PYTHON": sys.executable,
        **variables,
    }


@dataclass
class Job:
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def fail_if_dead(self) -> None:
        if not self.alive():
            pytest.fail(f"the job exited with {self.process.returncode}; its log:\n{tail(self.log, 60)}")

    def kill_group(self) -> None:
        """SIGKILL the driver and the JVM together (a crash), and wait until the JVM is gone."""
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.process.wait(timeout=30)
        wait_for(lambda: not group_alive(pgid), 30, "the job's process group to disappear")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def start_job(config_file: Path, log_path: Path, env: dict[str, str]) -> Job:
    handle = log_path.open("ab")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "chat_sentiment.stream", "--config", str(config_file)],
            stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=config_file.parent,
            start_new_session=True,  # its own process group: the crash kills the driver and the JVM at once
        )
    finally:
        handle.close()
    return Job(process, log_path)


def wait_for(check: Callable[[], T], timeout: float, what: str, job: Job | None = None) -> T:
    """Poll ``check`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if job is not None:
            job.fail_if_dead()
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}"
                        + (f"; the job's log:\n{tail(job.log, 60)}" if job else ""))
        time.sleep(1.0)


def table(directory: Path) -> pd.DataFrame:
    try:
        return tables.read_table(directory)
    except FileNotFoundError:
        return pd.DataFrame()
