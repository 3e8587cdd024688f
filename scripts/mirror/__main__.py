"""Build the artifact mirror: ``python -m scripts.mirror build [--only NAME,...]`` or ``verify``.

Each builder module exposes ``build(root: Path) -> list[Path]``: it is idempotent (an artifact already in the
manifest with a matching digest is not rebuilt) and records every artifact it writes with ``manifest.record``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from scripts.mirror import manifest
from scripts.paths import mirror_root

BUILDERS = ("kafka", "connectors", "wheels", "filebeat", "zookeeper")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.mirror", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build (or complete) the mirror")
    build.add_argument("--only", default=",".join(BUILDERS), help=f"comma-separated subset of {BUILDERS}")
    sub.add_parser("verify", help="check every artifact against SHA512SUMS")
    args = parser.parse_args(argv)

    root = mirror_root()
    if args.command == "verify":
        bad = manifest.verify(root)
        for rel in bad:
            print(f"mirror: {rel} is missing or does not match {manifest.MANIFEST}", file=sys.stderr)
        return 1 if bad else 0

    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(BUILDERS))
    if unknown:
        parser.error(f"unknown builder(s) {unknown}; choose from {BUILDERS}")
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        started = time.monotonic()
        module = importlib.import_module(f"scripts.mirror.{name}")
        artifacts = module.build(root)
        took = time.monotonic() - started
        print(f"mirror: {name}: {len(artifacts)} artifact(s) ready in {took:.1f}s")
    bad = manifest.verify(root)
    if bad:
        print(f"mirror: manifest mismatch for {bad}", file=sys.stderr)
        return 1
    print(f"mirror: ready at {root} (manifest {root / manifest.MANIFEST})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
