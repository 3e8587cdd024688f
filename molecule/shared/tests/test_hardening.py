"""Every unit the project writes runs sandboxed under its exposure threshold; root runs no code a service can write.

Scenarios pull this file in through their molecule.yml (``verifier.additional_files_or_dirs``), like
test_kafka_tier.py. The units a host must have follow from its inventory groups (UNITS below), never from what the
host happens to run, so a unit that went missing fails instead of being skipped. The thresholds, the highest
``systemd-analyze security`` exposure score each unit may have, are in sandbox_thresholds.yml beside this file
(the one place they live). Each check is shown able to fail: the same unit file without its sandbox drop-in scores
above its threshold, and the kernel's view of the running process (capabilities, no_new_privs, a read-only root in
its mount namespace) is read as well as systemd's.
"""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path

import pytest
import yaml

THRESHOLDS: dict[str, float] = yaml.safe_load((Path(__file__).with_name("sandbox_thresholds.yml")).read_text())
# The units each inventory group brings (the shipper's follow the chat source; the scenarios run Twitch).
UNITS = {
    "zookeeper": ["zookeeper"],
    "kafka": ["kafka"],
    "spark": ["chat-sentiment"],
    "shipper": ["chat-logger", "filebeat"],
}
# Where each unit may write (the role's defaults); anything else under / is read-only to it.
WRITABLE = {
    "zookeeper": "/var/lib/zookeeper",
    "kafka": "/var/log/kafka",
    "chat-sentiment": "/var/lib/chat-sentiment",
    "chat-logger": "/var/lib/chat-logger/logs",
    "filebeat": "/var/lib/filebeat",
}
# Where root runs and pip-installs code from: no service user may write anything there.
CODE_DIRS = ["/opt", "/usr/local/bin", "/etc/systemd/system"]
# The only TCP ports a JVM of the pipeline (ZooKeeper, Kafka, the job's driver) may listen on beyond loopback, by
# group: JMX, the Spark UI (4040) and the driver's own ports stay on localhost.
LISTEN = {"zookeeper": {2181, 2888, 3888}, "kafka": {9092}}
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")


def variables(host) -> dict:
    return host.ansible.get_variables()


def expected_units(host) -> list[str]:
    me = variables(host)["inventory_hostname"]
    groups = variables(host)["groups"]
    return sorted({unit for group, units in UNITS.items() if me in groups.get(group, []) for unit in units})


def exposure(host, *args: str) -> float:
    result = host.run("systemd-analyze security --no-pager" + " %s" * len(args), *args)
    found = EXPOSURE.search(result.stdout)
    assert found, f"no overall exposure in systemd-analyze's output: {result.stdout[-500:]} {result.stderr}"
    return float(found.group(1))


def main_pid(host, unit: str) -> str:
    pid = host.check_output("systemctl show -p MainPID --value %s", unit)
    assert pid not in ("", "0"), f"{unit} is not running"
    return pid


def units_of(host) -> list[str]:
    units = expected_units(host)
    if not units:
        pytest.skip("no project unit on this host")
    return units


def test_jvms_listen_beyond_loopback_only_on_the_opened_ports(host):
    me = variables(host)["inventory_hostname"]
    allowed: set[int] = set()
    for group, members in variables(host)["groups"].items():
        if me in members:
            allowed |= LISTEN.get(group, set())
    outside = []
    for line in host.check_output("ss -Htlnp").splitlines():
        local, process = line.split()[3], line.split()[-1]
        if '"java"' not in process:
            continue
        addr, port = local.rsplit(":", 1)
        if addr.strip("[]") in ("127.0.0.1", "::1", "::ffff:127.0.0.1") or int(port) in allowed:
            continue
        outside.append(f"{local} {process}")
    assert not outside, f"listening beyond loopback on ports nobody opened: {outside}"


def test_every_unit_has_a_threshold(host):
    missing = [unit for unit in units_of(host) if unit not in THRESHOLDS]
    assert not missing, f"sandbox_thresholds.yml has no threshold for {missing}"


def test_units_stay_under_their_exposure_threshold(host):
    scores = {unit: exposure(host, f"{unit}.service") for unit in units_of(host)}
    over = {unit: (score, THRESHOLDS[unit]) for unit, score in scores.items() if score > THRESHOLDS[unit]}
    assert not over, f"exposure above the threshold (score, threshold): {over}; all: {scores}"


def test_the_threshold_fails_a_unit_without_its_sandbox(host):
    """The same unit file, analysed offline without the 10-sandbox.conf drop-in, is over its threshold."""
    for unit in units_of(host):
        copy = f"/run/unsandboxed-{unit}.service"
        host.check_output("cp /etc/systemd/system/%s.service %s", unit, copy)
        try:
            bare = exposure(host, "--offline=true", copy)
        finally:
            host.run("rm -f %s", copy)
        assert bare > THRESHOLDS[unit], f"{unit} without its sandbox scores {bare}, not above {THRESHOLDS[unit]}"


def test_sandbox_is_in_force_for_the_running_process(host):
    """The kernel's view: no capabilities in the bounding set, no_new_privs, seccomp filtering."""
    for unit in units_of(host):
        status = host.file(f"/proc/{main_pid(host, unit)}/status").content_string
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        assert fields["CapBnd"].strip() == "0000000000000000", f"{unit}: {fields['CapBnd']}"
        assert fields["CapEff"].strip() == "0000000000000000", f"{unit}: {fields['CapEff']}"
        assert fields["NoNewPrivs"].strip() == "1", unit
        assert fields["Seccomp"].strip() == "2", f"{unit}: no seccomp filter"


def test_service_writes_only_its_own_paths(host):
    """In the service's mount namespace, /usr, /etc and /opt are read-only and its data directory is not."""
    for unit in units_of(host):
        pid = main_pid(host, unit)
        for path in ("/usr/local", "/etc", "/opt"):
            probe = host.run("nsenter -t %s -m -- touch %s/.sandbox-probe", pid, path)
            assert probe.rc != 0 and "Read-only file system" in probe.stderr, f"{unit} can write {path}"
        probe = f"{WRITABLE[unit]}/.sandbox-probe"
        writable = host.run("nsenter -t %s -m -- sh -c %s", pid, f"touch {probe} && rm {probe}")
        assert writable.rc == 0, f"{unit} cannot write its own {WRITABLE[unit]}: {writable.stderr}"
        # /root holds the bed's .ssh on the host; ProtectHome leaves the service an empty /root and /home.
        assert host.run("find /root -mindepth 1 -maxdepth 1").stdout.strip(), "nothing in /root to hide"
        home = host.run("nsenter -t %s -m -- find /root /home -mindepth 1 -maxdepth 1", pid)
        assert home.stdout.strip() == "", f"{unit} sees into home directories: {home.stdout}"


def test_no_service_user_can_write_where_root_runs_code(host):
    """Code, virtualenvs and units: owned by root and not writable by group or others (symlinks aside)."""
    dirs = [d for d in CODE_DIRS if host.file(d).exists]
    paths = " ".join(shlex.quote(d) for d in dirs)
    writable = "\\( ! -user root -o ! -group root -perm -g=w -o -perm -o=w \\)"
    found = host.run(f"find {paths} -xdev ! -type l {writable} -print")
    assert found.rc == 0, found.stderr
    assert found.stdout.strip() == "", f"writable by someone other than root:\n{found.stdout[:2000]}"
    base = host.file("/opt/chat-sentiment")
    if base.exists:
        assert (base.user, base.group, base.mode) == ("root", "root", 0o755)


JOB = "chat-sentiment"
BAD_CONFIG = 'sources = ["no-such-source"]\n'


def job_unit(host) -> dict[str, str]:
    props = ["Restart", "RestartUSec", "RestartPreventExitStatus", "StartLimitIntervalUSec", "StartLimitBurst"]
    out = host.check_output(f"systemctl show {JOB} " + " ".join(f"-p {p}" for p in props))
    return dict(line.split("=", 1) for line in out.splitlines())


def seconds(value: str) -> float:
    """systemd's time span (``15s``, ``10min``, ``1min 30s``) in seconds."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|min|s|h)", value)
    assert parts, f"not a time span: {value!r}"
    return sum(float(n) * units[u] for n, u in parts)


def in_spark(host) -> bool:
    return variables(host)["inventory_hostname"] in variables(host)["groups"].get("spark", [])


def test_job_unit_makes_a_crash_loop_impossible(host):
    if not in_spark(host):
        pytest.skip("not in group spark")
    unit = job_unit(host)
    assert unit["Restart"] == "on-failure"
    assert "2" in unit["RestartPreventExitStatus"].split(), unit
    delay, interval, burst = seconds(unit["RestartUSec"]), seconds(unit["StartLimitIntervalUSec"]), int(
        unit["StartLimitBurst"])
    assert delay >= 1, f"restarts without a delay: {unit}"
    assert 0 < burst <= 10, unit
    # The limit can only stop a loop if that many restarts, a delay apart, fit in the interval.
    assert burst * delay < interval, f"{burst} restarts {delay}s apart never hit a {interval}s start limit: {unit}"


def test_job_with_a_configuration_error_fails_once(host):
    """A copy of the job's unit on a bad configuration exits 2 and stays failed: no restart."""
    if not in_spark(host):
        pytest.skip("not in group spark")
    probe, config = f"{JOB}-probe", f"/run/{JOB}-probe.toml"
    host.check_output("printf %s > %s && chmod 0644 %s", BAD_CONFIG, config, config)
    unit = host.file(f"/etc/systemd/system/{JOB}.service").content_string
    unit = re.sub(r"--config \S+", f"--config {config}", unit)
    host.check_output("printf %s > /run/systemd/system/%s.service && systemctl daemon-reload", unit, probe)
    try:
        host.run("systemctl start --no-block %s", probe)
        deadline, state = time.monotonic() + 300, {}
        while time.monotonic() < deadline:
            out = host.check_output("systemctl show %s -p ActiveState -p SubState -p ExecMainStatus -p NRestarts",
                                    probe)
            state = dict(line.split("=", 1) for line in out.splitlines())
            if state["ActiveState"] in ("failed", "inactive"):
                break
            time.sleep(1)
        assert state.get("ActiveState") == "failed", f"still {state} after 300 s"
        assert state["ExecMainStatus"] == "2", state
        assert state["NRestarts"] == "0", state
        log = host.check_output("journalctl -u %s --no-pager -o cat", probe)
        assert "configuration error" in log and "no-such-source" in log, log[-2000:]
    finally:
        host.run("systemctl reset-failed %s; rm -f /run/systemd/system/%s.service %s; systemctl daemon-reload",
                 probe, probe, config)
