"""Smoke checks on the test bed: systemd booted hosts that see each other and carry the common role."""

from __future__ import annotations


def test_systemd_is_pid1_and_running(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state == "running", host.run("systemctl --failed --no-legend").stdout


def test_hosts_reach_each_other(host):
    me = host.ansible.get_variables()["inventory_hostname"]
    others = [name for name in host.ansible.get_variables()["groups"]["all"] if name != me]
    assert others, "the scenario has two hosts"
    for other in others:
        result = host.run(f"ping -c 1 -W 2 {other}")
        assert result.rc == 0, f"{me} cannot reach {other}: {result.stdout}{result.stderr}"


def test_hosts_reach_nothing_off_the_bed(host):
    # No default route: only the bridge's subnet is reachable.
    assert "default" not in host.run("ip route").stdout


def test_project_user_exists(host):
    user = host.user("chat-sentiment")
    assert user.exists
    assert user.uid < 1000, "a system user"
    assert user.shell.endswith("nologin")
    base = host.file("/opt/chat-sentiment")
    # code root runs or installs from lives here: root's, and no service user can write to it (issue 12)
    assert base.is_directory and base.user == "root" and base.group == "root"
    assert not base.mode & 0o022, oct(base.mode)


def test_base_packages(host):
    for name in ("ca-certificates", "curl", "acl", "chrony"):
        assert host.package(name).is_installed, name


def test_time_sync_runs(host):
    chrony = host.service("chrony")
    assert chrony.is_enabled
    assert chrony.is_running
    # In a container chronyd cannot set the clock; it must still run, tracking only.
    assert "-x" in host.run("ps -o args= -C chronyd").stdout


def test_bed_variables_reach_the_scenario(host):
    # inventories/testbed/group_vars is linked into every scenario's inventory.
    rendered = host.ansible("ansible.builtin.debug", "var=testbed_mirror_url", check=False)
    assert rendered["testbed_mirror_url"] == "http://10.213.0.1:8080"
