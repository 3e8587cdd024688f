"""The test bed itself: three systemd-booted hosts answer Ansible, `up` is idempotent, `down` leaves no trace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from scripts import testbed
from scripts.paths import REPO

pytestmark = [
    pytest.mark.testbed,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("systemd-nspawn") is None,
                       reason="needs root and systemd-nspawn (make deps)"),
]
NAMES = ["tb-a", "tb-b", "tb-c"]


def bed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scripts.testbed", *args], cwd=REPO, text=True,
                          capture_output=True, check=True, timeout=600)


@pytest.fixture(scope="module")
def hosts():
    started = bed("up", "--json", *NAMES)
    yield {h["instance"]: h for h in json.loads(started.stdout)}
    bed("down", *NAMES)


def test_three_hosts_answer_ansible(hosts):
    result = subprocess.run(
        ["ansible", "-i", str(testbed.INVENTORY), ",".join(NAMES), "-m", "ansible.builtin.ping", "-o"],
        cwd=REPO, text=True, capture_output=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in NAMES:
        assert f"{name} | SUCCESS" in result.stdout


def test_hosts_are_systemd_booted_with_fixed_addresses(hosts):
    addresses = {h["address"] for h in hosts.values()}
    assert len(addresses) == 3 and all(a.startswith(testbed.SUBNET + ".") for a in addresses)
    for host in testbed.known_hosts():
        if host.name in NAMES:
            state = testbed.ssh(host, "cat /proc/1/comm; systemctl is-system-running").stdout.split()
            assert state == ["systemd", "running"], (host.name, state)


def test_up_again_changes_nothing(hosts):
    before = {h.name: h.pid() for h in testbed.known_hosts() if h.name in NAMES}
    again = bed("up", "--json", *NAMES)
    assert "booting" not in again.stderr
    assert {h["instance"]: h["address"] for h in json.loads(again.stdout)} == {
        name: h["address"] for name, h in hosts.items()}
    assert {h.name: h.pid() for h in testbed.known_hosts() if h.name in NAMES} == before


def test_hosts_reach_only_the_bridge(hosts):
    host = next(h for h in testbed.known_hosts() if h.name == NAMES[0])
    routes = testbed.ssh(host, "ip route").stdout
    assert "default" not in routes
    # The mirror answers on the bridge address; the apt proxy refuses anything but Debian's archive.
    probe = ("python3 - <<'EOF'\nimport urllib.request as u\n"
             f"print(u.urlopen('http://{testbed.BRIDGE_ADDR}:{testbed.MIRROR_PORT}/', timeout=5).status)\n"
             f"p = u.ProxyHandler({{'http': 'http://{testbed.BRIDGE_ADDR}:{testbed.PROXY_PORT}'}})\n"
             "try:\n    u.build_opener(p).open('http://pypi.org/simple/', timeout=5)\n    print('open')\n"
             "except Exception as e:\n    print('refused', getattr(e, 'code', e))\nEOF")
    assert testbed.ssh(host, probe).stdout.split("\n")[:2] == ["200", "refused 403"]


def test_a_host_whose_nspawn_was_killed_is_a_trace_until_down_removes_it(hosts):
    """Killing systemd-nspawn (what stopping a test run by its process group does) leaves the container's systemd
    and its services running, reparented to the machine's init. The bed must see that and take it away."""
    host = next(h for h in testbed.known_hosts() if h.name == NAMES[2])
    nspawn = host.pid()
    assert nspawn is not None
    init = next(pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if testbed._ppid(pid) == nspawn)
    assert init not in testbed.orphaned_containers()  # a healthy host is no trace
    os.kill(nspawn, 9)
    for _ in range(50):  # the kernel reparents the container's init once nspawn is gone
        if testbed._ppid(init) != nspawn:
            break
        time.sleep(0.1)
    assert init in testbed.orphaned_containers()  # the fault hit: the container outlived its nspawn
    assert any("containers without their systemd-nspawn" in t for t in testbed.traces())
    bed("down", NAMES[2])
    assert not os.path.exists(f"/proc/{init}") and init not in testbed.orphaned_containers()


def test_orphan_detection_reads_environment_namespace_and_parent(tmp_path):
    """The same rule on a made-up /proc: only a container's init (PID 1 inside) whose parent is no nspawn counts."""
    proc = tmp_path / "proc"

    def process(pid: int, ppid: int, cmd: bytes, nspid: str, environ: bytes = b"PATH=/bin\0") -> None:
        (proc / str(pid) / "ns").mkdir(parents=True)
        (proc / str(pid) / "stat").write_text(f"{pid} (x y) S {ppid} 0 0\n")
        (proc / str(pid) / "cmdline").write_bytes(cmd)
        (proc / str(pid) / "status").write_text(f"Name:\tx\nNSpid:\t{nspid}\n")
        (proc / str(pid) / "environ").write_bytes(environ)
        (proc / str(pid) / "ns" / "net").symlink_to(f"net:[{pid}00]")

    nspawn_env = b"PATH=/bin\0container=systemd-nspawn\0TERM=xterm\0"
    process(1, 0, b"/sbin/init\0", "1")
    process(100, 1, b"systemd-nspawn\0-D\0x\0", "100")
    process(101, 100, b"/usr/lib/systemd/systemd\0", "101\t1", nspawn_env)  # a live host's init
    process(102, 101, b"java\0", "102\t40", nspawn_env)  # a service inside it
    process(201, 1, b"/usr/lib/systemd/systemd\0", "201\t1", nspawn_env)  # its nspawn is gone
    process(202, 201, b"java\0", "202\t40", nspawn_env)
    process(301, 1, b"chromium\0", "301\t1")  # another tool's PID namespace, not a container of nspawn
    (proc / "self").mkdir()
    assert testbed.orphaned_containers(proc) == {201: "net:[20100]"}


def test_down_leaves_no_trace(hosts):
    bed("down", *NAMES)
    assert not [h for h in testbed.known_hosts() if h.name in NAMES]
    if not testbed.known_hosts():  # nobody else's hosts: the bridge and services must be gone too
        assert testbed.traces() == []


def test_down_when_idle_keeps_a_bed_in_use_and_takes_an_idle_one_down(monkeypatch):
    """make test ends with `down --when-idle`: the full no-trace check runs whenever the suite's hosts are gone,
    and never removes the bridge from under hosts someone still runs."""
    calls: list[list[str]] = []
    monkeypatch.setattr(testbed, "down", calls.append)
    monkeypatch.setattr(testbed, "known_hosts", lambda: [testbed.Host("kept-demo", "10.0.0.9")])
    assert testbed.down_when_idle() is False and calls == []
    monkeypatch.setattr(testbed, "known_hosts", list)
    assert testbed.down_when_idle() is True and calls == [[]]
