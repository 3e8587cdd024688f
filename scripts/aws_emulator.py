"""A local AWS API emulator (moto in server mode) for the EC2 playbooks and the aws_ec2 inventory.

    python -m scripts.aws_emulator            # emulator up, ec2.yml, the inventory graph, teardown, emulator down
    python -m scripts.aws_emulator --keep     # ... leaves the instances and the emulator up until Ctrl-C

It shows, without an AWS account or any cost, what ``ansible-playbook ansible/playbooks/ec2.yml`` creates and what
``ansible-inventory -i inventories/aws --graph`` then lists: the emulator is started on 127.0.0.1 with a free port,
dummy credentials, and the two public images the playbook looks up (Rocky Linux 9 from the Rocky Linux account,
Amazon Linux 2023 from Amazon's) registered under their real owner ids. The inventory directory is used unchanged:
the aws_ec2 plugin takes the endpoint from ``AWS_URL`` and the playbook from ``ec2_endpoint_url``.
The tests in tests/aws/ use the same helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from scripts.paths import REPO

REGION = "us-east-1"
ROCKY_OWNER = "792107900819"  # the Rocky Enterprise Software Foundation's account (official Rocky Linux images)
AMAZON_OWNER = "137112412989"  # Amazon's account for Amazon Linux
PLAYBOOKS = REPO / "ansible" / "playbooks"
AWS_INVENTORY = REPO / "inventories" / "aws"
# Credentials the emulator accepts; real ones must never reach it (nor these reach AWS: the endpoint is local).
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# What would point boto3 at a real account, dropped from the environment the tools run in.
_AWS_ACCOUNT_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def _image(ami_id: str, name: str, owner: str, *, created: str, root_device: str, about: str) -> dict[str, object]:
    return {
        "ami_id": ami_id,
        "name": name,
        "owner_id": owner,
        "description": about,
        "creation_date": created,
        "architecture": "x86_64",
        "virtualization_type": "hvm",
        "hypervisor": "xen",
        "root_device_type": "ebs",
        "root_device_name": root_device,
        "image_type": "machine",
        "image_location": f"{owner}/{name}",
        "state": "available",
        "public": True,
        "sriov": "simple",
    }


def emulator_images() -> list[dict[str, object]]:
    """The public images the emulator knows (moto's ``MOTO_AMIS_PATH`` format).

    Two Rocky Linux 9 releases (the playbook must take the newer), one Amazon Linux 2023, and a Rocky-named image
    from another account that an owner-less lookup would wrongly pick because it is the newest of all.
    """
    return [
        _image(
            "ami-0a1b2c3d4e5f60901",
            "Rocky-9-EC2-Base-9.5-20241118.0.x86_64",
            ROCKY_OWNER,
            created="2024-11-18T10:00:00.000Z",
            root_device="/dev/sda1",
            about="Rocky Linux 9.5 (older)",
        ),
        _image(
            "ami-0a1b2c3d4e5f60902",
            "Rocky-9-EC2-Base-9.6-20250531.0.x86_64",
            ROCKY_OWNER,
            created="2025-05-31T10:00:00.000Z",
            root_device="/dev/sda1",
            about="Rocky Linux 9.6",
        ),
        _image(
            "ami-0a1b2c3d4e5f60903",
            "al2023-ami-2023.7.20250609.0-kernel-6.1-x86_64",
            AMAZON_OWNER,
            created="2025-06-09T10:00:00.000Z",
            root_device="/dev/xvda",
            about="Amazon Linux 2023",
        ),
        _image(
            "ami-0a1b2c3d4e5f60999",
            "Rocky-9-EC2-Base-9.9-20260101.0.x86_64",
            "111122223333",
            created="2026-01-01T10:00:00.000Z",
            root_device="/dev/sda1",
            about="not the official account",
        ),
    ]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tool(name: str) -> str:
    """A console script of the virtualenv this Python runs in (moto_server, ansible-playbook, ...)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def client_env(url: str, home: Path, region: str = REGION) -> dict[str, str]:
    """The environment for boto3 and Ansible to talk to the emulator at ``url`` and nothing else.

    ``home`` holds an empty AWS config and credentials file, so a profile on this machine can not leak in.
    """
    env = {k: v for k, v in os.environ.items() if k not in _AWS_ACCOUNT_ENV}
    empty = home / "aws-config-empty"
    empty.touch()
    env.update(DUMMY_CREDENTIALS)
    env.update(
        {
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": url,  # boto3's own setting
            "AWS_URL": url,  # amazon.aws's (the aws_ec2 inventory plugin reads it)
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


@dataclass
class Emulator:
    """A running ``moto_server``."""

    url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    log: Path

    def env(self) -> dict[str, str]:
        return client_env(self.url, self.workdir)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start(workdir: Path, timeout: float = 90.0) -> Emulator:
    """Start ``moto_server`` on 127.0.0.1 with a free port and the images of :func:`emulator_images`."""
    workdir.mkdir(parents=True, exist_ok=True)
    images = workdir / "amis.json"
    images.write_text(json.dumps(emulator_images(), indent=1))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in _AWS_ACCOUNT_ENV}
    env["MOTO_AMIS_PATH"] = str(images)
    log = workdir / "moto_server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    emulator = Emulator(url=f"http://127.0.0.1:{port}", process=process, workdir=workdir, log=log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{emulator.url}/moto-api/reset-auth", timeout=2):
                pass
            return emulator
        except urllib.error.HTTPError:
            return emulator  # it answers HTTP: up
        except OSError:
            if time.monotonic() > deadline:
                emulator.stop()
                raise RuntimeError(f"moto_server did not answer on {emulator.url} within {timeout:.0f}s") from None
            time.sleep(0.3)


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[Emulator]:
    """An emulator for the duration of a ``with`` block."""
    emulator = start(workdir)
    try:
        yield emulator
    finally:
        emulator.stop()


def ssh_public_key(workdir: Path) -> Path:
    """A throwaway ed25519 key pair in ``workdir``; returns the public key's path (the key pair's material)."""
    private = workdir / "id_ed25519"
    if not private.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "chat-sentiment-emulator", "-f", str(private)],
            check=True,
        )
    return private.with_suffix(".pub")


def playbook(
    name: str, env: Mapping[str, str], extra_vars: Mapping[str, object], json_output: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``ansible/playbooks/<name>`` on the controller; with ``json_output`` stdout is the json callback's."""
    run_env = dict(env)
    if json_output:
        run_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    return subprocess.run(
        [tool("ansible-playbook"), "-i", "localhost,", str(PLAYBOOKS / name), "-e", json.dumps(dict(extra_vars))],
        env=run_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def inventory(source: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``ansible-inventory -i <source> <args>``."""
    return subprocess.run(
        [tool("ansible-inventory"), "-i", str(source), *args],
        env=dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def emulator_vars(emulator: Emulator, public_key: Path) -> dict[str, object]:
    """ec2.yml's variables for a run against the emulator (documentation addresses for the CIDRs)."""
    return {
        "ec2_endpoint_url": emulator.url,
        "ec2_region": REGION,
        "ec2_ssh_cidrs": ["203.0.113.0/24"],
        "ec2_http_cidrs": ["198.51.100.0/24"],
        "ec2_public_key_file": str(public_key),
    }


def _check(step: str, result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"aws_emulator: {step} failed (exit {result.returncode})")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--keep", action="store_true", help="leave the emulator and its instances up until Ctrl-C")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aws-emulator-") as tmp, running(Path(tmp)) as emulator:
        env = emulator.env()
        print(f"emulator: {emulator.url} (moto_server, pid {emulator.process.pid})", flush=True)
        extra = emulator_vars(emulator, ssh_public_key(Path(tmp)))
        started = time.monotonic()
        _check("ec2.yml", playbook("ec2.yml", env, extra))
        print(f"ec2.yml: done in {time.monotonic() - started:.0f}s", flush=True)
        graph = inventory(AWS_INVENTORY, env, "--graph")
        _check("ansible-inventory --graph", graph)
        print(f"$ AWS_URL={emulator.url} ansible-inventory -i inventories/aws --graph")
        print(graph.stdout, end="", flush=True)
        if args.keep:
            print("\nIn another shell:\n  unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN")
            for key in ("AWS_URL", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
                print(f"  export {key}={env[key]}")
            print("  ansible-inventory -i inventories/aws --graph")
            print("Ctrl-C (or SIGTERM) stops the emulator; its state is lost.")
            # Also when started in the background, where SIGINT arrives ignored.
            signal.signal(signal.SIGINT, _interrupt)
            signal.signal(signal.SIGTERM, _interrupt)
            with contextlib.suppress(KeyboardInterrupt):
                emulator.process.wait()
            return 0
        _check("ec2-teardown.yml", playbook("ec2-teardown.yml", env, extra))
        print("ec2-teardown.yml: done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
