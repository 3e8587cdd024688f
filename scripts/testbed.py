"""The local multi-host test bed: Debian 12 hosts booted with systemd-nspawn on a private bridge.

    python -m scripts.testbed up NAME [NAME...] [--group GROUP=NAME,NAME ...]
    python -m scripts.testbed down [NAME...]
    python -m scripts.testbed status

Each host is a copy of a cached debootstrap image, booted with systemd as PID 1 in its own network namespace,
with a fixed address on the bridge, sshd and the bed's generated key. The machine's bridge address serves two
things and nothing else is reachable from the hosts: a caching squid that only forwards to Debian's archive, and an
HTTP server over the artifact mirror. Nothing is routed or NATed off the machine.

``up`` is idempotent (running hosts are left alone); ``down`` with no names removes every host, the bridge, the
proxy and the mirror server, and checks that no process, namespace, link or mount of ours is left.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from scripts.paths import REPO, cache_root, image_root, mirror_root

BRIDGE = "cstb0"
SUBNET = "10.213.0"  # /24 on the private bridge; .1 is the machine, hosts from .10
BRIDGE_ADDR = f"{SUBNET}.1"
FIRST_HOST = 10
PROXY_PORT = 3142
MIRROR_PORT = 8080
SUITE = "bookworm"
DEBIAN_URL = "http://deb.debian.org/debian"
PROXY_ALLOWED = ("deb.debian.org",)

STATE = Path("/var/lib/chat-sentiment-testbed")
HOSTS_DIR = STATE / "hosts"
RUN = Path("/run/chat-sentiment-testbed")
KEY = STATE / "ssh" / "id_ed25519"
NETNS_DIR = Path("/run/netns")
INVENTORY = REPO / "inventories" / "testbed" / "hosts.yml"

IMAGE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "sudo", "iproute2",
    "iputils-ping", "procps", "ca-certificates", "less", "netbase",
)
# Bump when the image recipe changes so a stale cached image is rebuilt.
IMAGE_REVISION = "1"


def log(message: str) -> None:
    print(f"testbed: {message}", file=sys.stderr, flush=True)


def run(*cmd: str, check: bool = True, quiet: bool = False, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, check=False, text=True, capture_output=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip() or result.stdout}")
    if not quiet and result.returncode != 0:
        log(f"{' '.join(cmd)}: {result.stderr.strip()}")
    return result


# --------------------------------------------------------------------------------------------------- image
def image_dir() -> Path:
    return image_root() / f"{SUITE}-r{IMAGE_REVISION}"


def build_image() -> Path:
    """Debootstrap the Debian 12 image once; later calls return the cached one."""
    target = image_dir()
    if (target / ".complete").exists():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    log(f"building the {SUITE} image with debootstrap (once; cached in {target})")
    started = time.monotonic()
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(IMAGE_PACKAGES)}", SUITE, str(staging),
         DEBIAN_URL],
        check=True, stdout=subprocess.DEVNULL,
    )
    _configure_image(staging)
    staging.rename(target)
    (target / ".complete").write_text(f"{time.time()}\n")
    log(f"image ready in {time.monotonic() - started:.0f}s")
    return target


def _configure_image(root: Path) -> None:
    etc = root / "etc"
    (etc / "apt" / "apt.conf.d" / "01testbed-proxy").write_text(
        f'Acquire::http::Proxy "http://{BRIDGE_ADDR}:{PROXY_PORT}";\nAcquire::https::Proxy "DIRECT";\n'
    )
    (etc / "apt" / "sources.list").write_text(
        f"deb {DEBIAN_URL} {SUITE} main\n"
        f"deb {DEBIAN_URL} {SUITE}-updates main\n"
        f"deb http://deb.debian.org/debian-security {SUITE}-security main\n"
    )
    # No hardware clock, no console login, nothing that waits for a network it will not get.
    masked = ("getty@tty1.service", "console-getty.service", "systemd-timesyncd.service", "apt-daily.timer",
              "apt-daily-upgrade.timer")
    for unit in masked:
        link = etc / "systemd" / "system" / unit
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to("/dev/null")
    (etc / "ssh" / "sshd_config.d").mkdir(parents=True, exist_ok=True)
    (etc / "ssh" / "sshd_config.d" / "testbed.conf").write_text(
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n"
    )
    # Host keys are generated per host on first boot (ssh-keygen -A in a drop-in), never shared by copies.
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    dropin = etc / "systemd" / "system" / "ssh.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "testbed-hostkeys.conf").write_text(
        "[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n"
    )
    (root / "root" / ".ssh").mkdir(mode=0o700, exist_ok=True)


# --------------------------------------------------------------------------------------------------- hosts
@dataclass
class Host:
    name: str
    address: str

    @property
    def root(self) -> Path:
        return HOSTS_DIR / self.name / "root"

    @property
    def netns(self) -> str:
        return f"cstb-{self.name}"

    @property
    def veth(self) -> str:
        return f"cstb{self.address.rsplit('.', 1)[1]}"

    @property
    def pidfile(self) -> Path:
        return RUN / f"{self.name}.pid"

    def pid(self) -> int | None:
        return _live_pid(self.pidfile)


def _live_pid(pidfile: Path) -> int | None:
    """The pid in ``pidfile`` if that process still runs and is one of ours (pids get reused)."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return None
    ours = ("systemd-nspawn", "squid", "http.server")
    return pid if any(word in cmdline for word in ours) and "zombie" not in _proc_state(pid) else None


def _stat_fields(pid: int, proc: Path = Path("/proc")) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, ...); [] when the process is gone."""
    try:
        return (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _proc_state(pid: int) -> str:
    fields = _stat_fields(pid)
    if not fields:
        return "gone"
    return "zombie" if fields[0] == "Z" else "running"


def known_hosts() -> list[Host]:
    hosts = []
    for meta in sorted(HOSTS_DIR.glob("*/host.json")):
        data = json.loads(meta.read_text())
        hosts.append(Host(data["name"], data["address"]))
    return hosts


def _allocate(name: str) -> Host:
    for host in known_hosts():
        if host.name == name:
            return host
    used = {host.address for host in known_hosts()}
    for last in range(FIRST_HOST, 250):
        address = f"{SUBNET}.{last}"
        if address not in used:
            host = Host(name, address)
            (HOSTS_DIR / name).mkdir(parents=True, exist_ok=True)
            (HOSTS_DIR / name / "host.json").write_text(json.dumps({"name": name, "address": address}))
            return host
    raise RuntimeError(f"no free address left on {SUBNET}.0/24 for host {name!r}")


def _valid_name(name: str) -> str:
    if not name or len(name) > 20 or not all(c.isalnum() or c == "-" for c in name) or name[0] == "-":
        raise SystemExit(f"testbed: bad host name {name!r} (letters, digits and '-', at most 20 characters)")
    return name.lower()


def _ensure_key() -> None:
    if not KEY.exists():
        KEY.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "chat-sentiment-testbed", "-f", str(KEY))


def _ensure_bridge() -> None:
    if run("ip", "link", "show", BRIDGE, check=False, quiet=True).returncode != 0:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "add", f"{BRIDGE_ADDR}/24", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")


def _ensure_network(host: Host) -> None:
    if run("ip", "netns", "pids", host.netns, check=False, quiet=True).returncode != 0:
        run("ip", "netns", "add", host.netns)
    ns = ("ip", "-n", host.netns)
    if run(*ns, "link", "show", "eth0", check=False, quiet=True).returncode != 0:
        run("ip", "link", "del", host.veth, check=False, quiet=True)
        run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        run(*ns, "addr", "add", f"{host.address}/24", "dev", "eth0")
    run("ip", "link", "set", host.veth, "master", BRIDGE, "up")
    run(*ns, "link", "set", "lo", "up")
    run(*ns, "link", "set", "eth0", "up")
    # Only the bridge is reachable: a route to the subnet and no default route.


def _prepare_root(host: Host, all_hosts: list[Host]) -> None:
    if not (host.root / ".complete").exists():
        shutil.rmtree(host.root, ignore_errors=True)
        log(f"{host.name}: copying the image")
        run("cp", "-a", "--reflink=auto", str(image_dir()), str(host.root))
        (host.root / "etc" / "machine-id").write_text("")
        (host.root / ".complete").write_text("")
    (host.root / "etc" / "hostname").write_text(f"{host.name}\n")
    _write_etc_hosts(host, all_hosts)
    keys = host.root / "root" / ".ssh" / "authorized_keys"
    keys.write_text(Path(str(KEY) + ".pub").read_text())
    keys.chmod(0o600)


def _write_etc_hosts(host: Host, all_hosts: list[Host]) -> None:
    lines = ["127.0.0.1 localhost", f"{BRIDGE_ADDR} testbed-gateway"]
    lines += [f"{other.address} {other.name}" for other in all_hosts]
    (host.root / "etc" / "hosts").write_text("\n".join(lines) + "\n")


def _boot(host: Host) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    logfile = (RUN / f"{host.name}.log").open("ab")
    process = subprocess.Popen(
        ["systemd-nspawn", "--quiet", "-D", str(host.root), "-b", "--register=no", "--keep-unit",
         f"--machine={host.name}", f"--network-namespace-path=/run/netns/{host.netns}", "--console=passive",
         "--resolv-conf=off", "--timezone=off", "--link-journal=no",
         # Administer its own network namespace (nftables/firewalld); nspawn drops it with a namespace path.
         "--capability=CAP_NET_ADMIN"],
        stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, start_new_session=True,
    )
    host.pidfile.write_text(f"{process.pid}\n")


def _ssh_args(host: Host) -> list[str]:
    return ["ssh", "-i", str(KEY), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3", "-o", "BatchMode=yes", f"root@{host.address}"]


def ssh(host: Host, command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run(*_ssh_args(host), command, check=check, quiet=True, timeout=timeout)


def _wait_ready(host: Host, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    state = "no answer"
    missing = 0
    while time.monotonic() < deadline:
        # One look at /proc has been seen to miss a booting nspawn (the host then came up): only several in a row,
        # a few seconds apart, mean it exited.
        missing = missing + 1 if host.pid() is None else 0
        if missing >= 5:
            raise RuntimeError(f"{host.name}: systemd-nspawn exited; see {RUN / (host.name + '.log')}")
        try:
            with socket.create_connection((host.address, 22), timeout=2):
                pass
            result = ssh(host, "systemctl is-system-running --wait", check=False, timeout=60)
            state = result.stdout.strip()
            if state in ("running", "degraded"):
                if state == "degraded":
                    failed = ssh(host, "systemctl --failed --no-legend --plain", check=False).stdout.strip()
                    log(f"{host.name}: booted degraded; failed units: {failed}")
                return
        except (OSError, subprocess.TimeoutExpired):
            pass
        time.sleep(1)
    raise RuntimeError(f"{host.name}: not ready after {timeout:.0f}s (last state: {state})")


# --------------------------------------------------------------------------------------------------- services
def _proxy_conf() -> Path:
    """Squid as a caching proxy that only forwards to Debian's archive and only for the bed's subnet."""
    cache = cache_root() / "apt-proxy"
    cache.mkdir(parents=True, exist_ok=True)
    shutil.chown(cache, "proxy", "proxy")
    conf = RUN / "squid.conf"
    conf.write_text(
        f"""http_port {BRIDGE_ADDR}:{PROXY_PORT}
pid_filename {RUN / 'squid.pid'}
cache_effective_user proxy
cache_dir ufs {cache} 8000 16 256
maximum_object_size 1024 MB
cache_mem 64 MB
access_log none
cache_log {cache / 'squid.log'}
coredump_dir {cache}
acl bed src {SUBNET}.0/24
acl debian dstdomain {' '.join(PROXY_ALLOWED)}
http_access allow bed debian
http_access deny all
# Packages never change under a name; indexes are revalidated.
refresh_pattern \\.deb$ 129600 100% 129600
refresh_pattern . 0 20% 4320
shutdown_lifetime 1 seconds
"""
    )
    if not (cache / "00").is_dir():
        run("squid", "-N", "-z", "-f", str(conf))
    return conf


def _ensure_services() -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    if _live_pid(RUN / "squid.pid") is None:
        if shutil.which("squid") is None:
            raise RuntimeError("squid is not installed (make deps installs it)")
        run("squid", "-f", str(_proxy_conf()))
        _wait_port(BRIDGE_ADDR, PROXY_PORT, "squid (apt proxy)")
    root = mirror_root()
    served = RUN / "mirror.root"
    if _live_pid(RUN / "mirror.pid") is not None and (not served.exists() or served.read_text() != str(root)):
        _stop_pid(RUN / "mirror.pid", "mirror HTTP server (serving another cache)")
    if _live_pid(RUN / "mirror.pid") is None:
        served.write_text(str(root))
        root.mkdir(parents=True, exist_ok=True)
        logfile = (RUN / "mirror.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(MIRROR_PORT), "--bind", BRIDGE_ADDR, "--directory", str(root)],
            stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, start_new_session=True,
        )
        (RUN / "mirror.pid").write_text(f"{process.pid}\n")
        _wait_port(BRIDGE_ADDR, MIRROR_PORT, "mirror HTTP server")


def _wait_port(address: str, port: int, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} does not answer on {address}:{port}")


def _stop_pid(pidfile: Path, what: str, grace: float = 10) -> None:
    pid = _live_pid(pidfile)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        _wait_gone(pid, grace) or os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5)
        log(f"stopped {what}")
    pidfile.unlink(missing_ok=True)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        # Reap our own children so they do not linger as zombies.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    return False


# --------------------------------------------------------------------------------------------------- inventory
def write_inventory(groups: dict[str, list[str]] | None = None) -> Path:
    """Write ``inventories/testbed/hosts.yml`` for the hosts that are up; keep earlier group membership."""
    previous: dict[str, list[str]] = {}
    groups_file = STATE / "groups.json"
    if groups_file.exists():
        previous = json.loads(groups_file.read_text())
    for group, members in (groups or {}).items():
        previous[group] = sorted(set(previous.get(group, [])) | set(members))
    up = [host for host in known_hosts() if host.pid() is not None]
    names = {host.name for host in up}
    previous = {g: [m for m in members if m in names] for g, members in previous.items()}
    previous = {g: members for g, members in previous.items() if members}
    STATE.mkdir(parents=True, exist_ok=True)
    groups_file.write_text(json.dumps(previous, indent=2, sort_keys=True))

    lines = ["# Written by scripts/testbed.py for the hosts that are up; do not edit.", "all:", "  hosts:"]
    for host in up:
        lines += [f"    {host.name}:", f"      ansible_host: {host.address}"]
    if not up:
        lines[-1] = "  hosts: {}"
    lines += [
        "  vars:",
        "    ansible_user: root",
        f"    ansible_ssh_private_key_file: {KEY}",
        "    ansible_ssh_common_args: >-",
        "      -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        "    ansible_python_interpreter: /usr/bin/python3",
    ]
    if previous:
        lines.append("  children:")
        for group in sorted(previous):
            lines += [f"    {group}:", "      hosts:"] + [f"        {m}:" for m in previous[group]]
    INVENTORY.parent.mkdir(parents=True, exist_ok=True)
    INVENTORY.write_text("\n".join(lines) + "\n")
    return INVENTORY


# --------------------------------------------------------------------------------------------------- commands
def up(names: list[str], groups: dict[str, list[str]], as_json: bool = False) -> None:
    names = [_valid_name(n) for n in names]
    build_image()
    _ensure_key()
    _ensure_bridge()
    _ensure_services()
    hosts = [_allocate(name) for name in names]
    every = known_hosts()
    started = []
    for host in hosts:
        _ensure_network(host)
        _prepare_root(host, every)
        if host.pid() is None:
            log(f"{host.name}: booting at {host.address}")
            _boot(host)
            started.append(host)
    for other in every:
        if other not in hosts and (other.root / "etc").is_dir():
            _write_etc_hosts(other, every)  # running hosts learn the names of the new ones
    for host in started:
        _wait_ready(host)
        log(f"{host.name}: up at {host.address}")
    inventory = write_inventory(groups)
    log(f"inventory: {inventory}")
    if as_json:
        key = str(KEY)
        print(json.dumps([{"instance": h.name, "address": h.address, "user": "root", "port": 22,
                           "identity_file": key} for h in hosts]))


def _poweroff(hosts: list[Host], timeout: float = 30) -> None:
    """Power hosts off from inside (systemd-nspawn ignores SIGTERM for too long), all at once, then wait."""
    running = [(host, pid) for host in hosts if (pid := host.pid()) is not None]
    for host, _ in running:
        ssh(host, "systemctl poweroff --no-block", check=False, timeout=15)
    for host, pid in running:
        if not _wait_gone(pid, timeout):
            log(f"{host.name}: did not power off within {timeout:.0f}s; killing systemd-nspawn")
            os.killpg(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
    for host in hosts:
        host.pidfile.unlink(missing_ok=True)


def down(names: list[str]) -> None:
    every = known_hosts()
    targets = [h for h in every if not names or h.name in names]
    _poweroff(targets)
    for host in targets:
        _kill_orphan(host)  # a container whose nspawn died: host.pid() is None, so no poweroff reached it
        run("ip", "link", "del", host.veth, check=False, quiet=True)
        run("ip", "netns", "del", host.netns, check=False, quiet=True)
        shutil.rmtree(HOSTS_DIR / host.name, ignore_errors=True)
        log(f"{host.name}: removed")
    if not names or not known_hosts():
        _stop_pid(RUN / "mirror.pid", "mirror HTTP server")
        _stop_pid(RUN / "squid.pid", "squid (apt proxy)")
        run("ip", "link", "del", BRIDGE, check=False, quiet=True)
        shutil.rmtree(RUN, ignore_errors=True)
        (STATE / "groups.json").unlink(missing_ok=True)
        # `ip netns add` made /run/netns a mount point; drop it when no namespace at all is left in it.
        if not run("ip", "netns", "list", check=False).stdout.strip() and _is_mountpoint(NETNS_DIR):
            run("umount", str(NETNS_DIR), check=False)
    write_inventory()
    leftovers = traces() if not names else []
    if leftovers:
        raise SystemExit("testbed: left behind: " + "; ".join(leftovers))


def down_when_idle() -> bool:
    """The end of a test run (make test): when every host is gone, the bridge and the services go too, and
    anything of the bed still there is an error (down() raises with the list). Hosts still up (a demo the
    developer keeps) are left alone, and so is what they need. True when the bed was taken down."""
    if remaining := [h.name for h in known_hosts()]:
        log(f"hosts still up, the bridge and services stay: {', '.join(remaining)}")
        return False
    down([])
    log("no host left: bridge and services removed, no trace left")
    return True


def _is_mountpoint(path: Path) -> bool:
    return any(line.split()[1] == str(path) for line in Path("/proc/mounts").read_text().splitlines())


def _ppid(pid: int, proc: Path = Path("/proc")) -> int | None:
    fields = _stat_fields(pid, proc)
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def orphaned_containers(proc: Path = Path("/proc")) -> dict[int, str]:
    """Hosts' init processes that outlived their systemd-nspawn (killed by a signal to its process group, say), with
    their network namespace (``net:[inode]``). A container's init is the process nspawn started with
    ``container=systemd-nspawn`` in its environment, PID 1 in its own PID namespace; it is an orphan when its parent
    is no longer an nspawn. ``pgrep systemd-nspawn`` cannot see those, and they keep ZooKeeper, Kafka and the rest
    running with nobody to stop them."""
    orphans = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"container=systemd-nspawn" not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            nspid = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("NSpid:"))
            if nspid.split()[-1] != "1":
                continue  # a process inside a container, not its init
            parent = _ppid(int(entry.name), proc)
            parent_cmd = (proc / str(parent) / "cmdline").read_bytes() if parent else b""
            net = os.readlink(entry / "ns" / "net")
        except (OSError, StopIteration):  # gone meanwhile, or not ours to read
            continue
        if b"systemd-nspawn" not in parent_cmd:
            orphans[int(entry.name)] = net
    return orphans


def _kill_orphan(host: Host) -> None:
    """SIGKILL the init of ``host``'s container if it outlived its nspawn (the whole container goes with it)."""
    try:
        net = f"net:[{os.stat(NETNS_DIR / host.netns).st_ino}]"
    except OSError:
        return
    for pid, ns in orphaned_containers().items():
        if ns == net:
            log(f"{host.name}: its container outlived systemd-nspawn (pid {pid}); killing it")
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)


def traces() -> list[str]:
    """Everything of ours that could outlive the bed: processes, namespaces, links, mounts."""
    found = []
    pattern = f"systemd-nspawn.*{STATE}|squid.*{RUN}|http.server.*--bind {BRIDGE_ADDR}"
    procs = run("pgrep", "-af", pattern, check=False, quiet=True).stdout.strip()
    if procs:
        found.append(f"processes: {procs}")
    if orphans := orphaned_containers():
        found.append("containers without their systemd-nspawn: "
                     + ", ".join(f"pid {pid} ({net})" for pid, net in sorted(orphans.items())))
    netns = [n for n in run("ip", "netns", "list", check=False).stdout.split() if n.startswith("cstb-")]
    if netns:
        found.append(f"network namespaces: {netns}")
    links = [line for line in run("ip", "-o", "link", check=False).stdout.splitlines() if ": cstb" in line]
    if links:
        found.append(f"links: {[line.split(':')[1].strip() for line in links]}")
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if "chat-sentiment-testbed" in line or "/run/netns/cstb-" in line]
    if not netns and not run("ip", "netns", "list", check=False).stdout.strip() and _is_mountpoint(NETNS_DIR):
        mounts.append(str(NETNS_DIR))
    if mounts:
        found.append(f"mounts: {mounts}")
    return found


def status() -> None:
    for host in known_hosts():
        state = "up" if host.pid() is not None else "down"
        print(f"{host.name:20} {host.address:15} {state}")
    leftovers = traces()
    print("traces: " + ("; ".join(leftovers) if leftovers else "none"))


def _parse_groups(specs: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for spec in specs:
        group, sep, members = spec.partition("=")
        if not sep or not group:
            raise SystemExit(f"testbed: --group wants GROUP=HOST,HOST, got {spec!r}")
        groups.setdefault(group, []).extend(_valid_name(m) for m in members.split(",") if m)
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.testbed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="boot hosts (idempotent)")
    p_up.add_argument("names", nargs="+")
    p_up.add_argument("--group", action="append", default=[], metavar="GROUP=HOST,HOST")
    p_up.add_argument("--json", action="store_true", help="print the hosts' connection details as JSON")
    p_down = sub.add_parser("down", help="remove hosts (all, and the bridge and services, when none named)")
    p_down.add_argument("names", nargs="*")
    p_down.add_argument("--when-idle", action="store_true",
                        help="only when no host is left: remove the bridge and services, and fail on any trace")
    sub.add_parser("status", help="list hosts and any leftovers")
    sub.add_parser("image", help="build the cached Debian image only")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("testbed: must run as root (systemd-nspawn, network namespaces)")
    STATE.mkdir(parents=True, exist_ok=True)
    # One bed, several users (parallel scenarios): changes to it are serialised.
    with (STATE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "up":
        up(args.names, _parse_groups(args.group), args.json)
    elif args.command == "down" and args.when_idle:
        down_when_idle()
    elif args.command == "down":
        down([_valid_name(n) for n in args.names])
    elif args.command == "status":
        status()
    else:
        build_image()
    return 0


if __name__ == "__main__":
    sys.exit(main())
