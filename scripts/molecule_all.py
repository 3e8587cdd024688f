"""Run every molecule scenario, several at a time, and print a table of results and durations.

    python -m scripts.molecule_all [--jobs 3] [--also NAME=COMMAND ...] [SCENARIO ...]

``molecule test --all`` runs scenarios one after the other; most of a converge is waiting (SSH round trips, apt
through the proxy, JVMs starting), so three at a time finish sooner even on two cores. Each scenario has its own
hosts and molecule state, and the test bed serialises host creation, so they do not interfere. The longest
scenarios (from the last run's durations, kept in the cache) start first. Each scenario's output goes to
``<cache>/logs/molecule-<scenario>.log``; a failed one's tail is printed. Exit status 1 if any scenario failed.

``--also NAME=COMMAND`` runs another command as one more job beside the scenarios (``make test`` runs the pytest
suite so, which then overlaps the scenarios' waiting); its output goes to ``<cache>/logs/<NAME>.log`` and is printed
when it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from scripts.paths import REPO, cache_root

TIMES = "molecule-times.json"
# Rough durations (s) on a quiet two-core machine, for the order of a first run (no durations in the cache yet).
EXPECTED = {"pipeline": 2400, "kafka-cluster": 1800, "kafka-aio": 1100, "pytest": 600, "lint": 300,
            "smoke": 200}


@dataclass
class Result:
    scenario: str
    returncode: int
    seconds: float
    log: Path


def discover(repo: Path) -> list[str]:
    return sorted(p.parent.name for p in (repo / "molecule").glob("*/molecule.yml"))


def load_times(cache: Path) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads((cache / TIMES).read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def run(scenario: str, logs: Path, command: list[str] | None = None) -> Result:
    log = logs / (f"molecule-{scenario}.log" if command is None else f"{scenario}.log")
    started = time.monotonic()
    print(f"molecule_all: {scenario}: started (log {log})", flush=True)
    with log.open("w") as handle:
        done = subprocess.run(command or ["molecule", "test", "-s", scenario], cwd=REPO, stdout=handle,
                              stderr=subprocess.STDOUT, check=False)
    took = time.monotonic() - started
    state = "passed" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    print(f"molecule_all: {scenario}: {state} in {took:.0f}s", flush=True)
    return Result(scenario, done.returncode, took, log)


def parse_also(values: list[str]) -> dict[str, list[str]]:
    """``NAME=COMMAND`` options as {name: argv}."""
    jobs = {}
    for value in values:
        name, sep, command = value.partition("=")
        if not sep or not name.strip() or not command.strip():
            raise ValueError(f"--also {value!r}: expected NAME=COMMAND")
        jobs[name.strip()] = shlex.split(command)
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.molecule_all", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MOLECULE_JOBS", "3")))
    parser.add_argument("--tail", type=int, default=150, help="lines of a failed scenario's log to print")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=COMMAND",
                        help="another command to run as a job beside the scenarios (repeatable)")
    parser.add_argument("scenarios", nargs="*")
    args = parser.parse_args(argv)
    known = discover(REPO)
    unknown = sorted(set(args.scenarios) - set(known))
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; molecule/ has {known}")
    try:
        extra = parse_also(args.also)
    except ValueError as exc:
        parser.error(str(exc))
    cache = cache_root()
    logs = cache / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    times = {**EXPECTED, **load_times(cache)}
    # Unknown durations first (likely new and long), then the longest.
    order = sorted([*(args.scenarios or known), *extra], key=lambda s: -times.get(s, float("inf")))
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda s: run(s, logs, extra.get(s)), order))
    wall = time.monotonic() - started

    times.update({r.scenario: round(r.seconds) for r in results if r.returncode == 0})
    (cache / TIMES).write_text(json.dumps(times, indent=1, sort_keys=True))
    failed = [r for r in results if r.returncode != 0]
    for result in results:
        if result.scenario in extra and result.returncode == 0:
            print(f"\n===== {result.scenario} ({result.log}) =====")
            print(result.log.read_text(errors="replace").rstrip())
    for result in failed:
        lines = result.log.read_text(errors="replace").splitlines()
        print(f"\n===== {result.scenario}: last {args.tail} lines of {result.log} =====")
        print("\n".join(lines[-args.tail:]))
    print(f"\n{'scenario':<20} {'result':<8} {'seconds':>8}")
    for result in sorted(results, key=lambda r: r.scenario):
        print(f"{result.scenario:<20} {'ok' if result.returncode == 0 else 'FAILED':<8} {result.seconds:>8.0f}")
    print(f"{'total (wall)':<20} {'':<8} {wall:>8.0f}   jobs={args.jobs}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
