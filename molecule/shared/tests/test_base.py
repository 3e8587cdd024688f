"""The base of a pipeline host on the test bed: common, a JDK with its java_home fact, and httpd serving.

Used by the scenarios whose converge records the java facts (facts-<host>.json) and publishes a snapshot
(see molecule/kafka-aio/converge.yml).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def facts(host) -> dict[str, object]:
    """The facts converge.yml recorded for this host (java_home is only known during the play)."""
    name = host.ansible.get_variables()["inventory_hostname"]
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / f"facts-{name}.json"
    return json.loads(path.read_text())


def _java_major(version_output: str) -> int:
    match = re.search(r'version "(?:1\.)?(\d+)', version_output)
    assert match, version_output
    return int(match.group(1))


def test_java_is_17_on_debian12(host):
    result = host.run("java -version")
    assert result.rc == 0, result.stderr
    assert _java_major(result.stderr) == 17, result.stderr
    assert host.package("openjdk-17-jdk-headless").is_installed


def test_java_home_fact_is_a_real_jvm(host, facts):
    java_home = facts["java_home"]
    assert facts["java_version"] == 17
    assert java_home == "/usr/lib/jvm/java-17-openjdk-amd64"
    home = host.file(java_home)
    assert home.is_directory
    assert not home.is_symlink, "java_home is the JVM's own directory, not a link to it"
    for tool in ("java", "javac", "jcmd"):
        assert host.file(f"{java_home}/bin/{tool}").mode & 0o111, tool
    result = host.run(f"{java_home}/bin/java -XshowSettings:properties -version")
    assert f"java.home = {java_home}" in result.stderr
    assert _java_major(result.stderr) == 17


def test_apache2_is_enabled_and_running(host):
    apache = host.service("apache2")
    assert apache.is_enabled
    assert apache.is_running
    assert host.socket("tcp://0.0.0.0:80").is_listening or host.socket("tcp://:::80").is_listening


def test_apache2_serves_as_its_own_user(host):
    users = [p.user for p in host.process.filter(comm="apache2")]
    # The parent binds port 80 as root; every process that serves requests runs as www-data.
    assert users.count("root") == 1, users
    assert "www-data" in users, users
    assert set(users) == {"root", "www-data"}, users


def test_config_is_valid_and_only_our_site_is_enabled(host):
    result = host.run("apache2ctl -t")
    assert result.rc == 0, result.stderr
    assert "Syntax OK" in result.stderr
    enabled = host.file("/etc/apache2/sites-enabled").listdir()
    assert enabled == ["chat-sentiment.conf"]


def test_index_page_is_served_on_the_host(host):
    page = host.check_output("curl -fsS http://127.0.0.1/")
    assert "chat-sentiment dashboard: coming soon" in page
    assert f"Served by {host.check_output('hostname')}." in page


def test_index_page_is_served_to_the_controller(host):
    address = host.ansible.get_variables()["ansible_host"]
    with urllib.request.urlopen(f"http://{address}/", timeout=10) as response:
        assert response.status == 200
        assert "chat-sentiment dashboard: coming soon" in response.read().decode()


def test_alias_dir_serves_the_json_snapshot(host):
    name = host.ansible.get_variables()["inventory_hostname"]
    snapshot = json.loads(host.check_output("curl -fsS http://127.0.0.1/snapshots/latest.json"))
    assert snapshot == {"channel": name, "messages": 3}


def test_vhost_extra_is_in_the_site(host):
    status = host.check_output("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1/dashboard")
    assert status == "302 http://127.0.0.1/"
