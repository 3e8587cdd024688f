"""The controller's configuration is safe for real hosts (issue 12): SSH host keys are checked, no inventory is implied.

Only the generated test-bed inventories turn checking off, each for its own hosts; the inventories for real hosts
(EC2, bare metal) never do.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# What turns SSH host-key checking off, in any of the forms Ansible and OpenSSH take. accept-new (trust a new host
# once, refuse a changed key afterwards, as the EC2 inventory does for new instances) keeps it on.
KEY_CHECKING_OFF = re.compile(
    r"StrictHostKeyChecking\s*=?\s*(no|off)\b|UserKnownHostsFile\s*=?\s*/dev/null"
    r"|host_key_checking\s*[:=]\s*(false|no|off|0)\b",
    re.IGNORECASE,
)


def ansible_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "ansible.cfg")
    return cfg


def test_host_key_checking_is_on():
    cfg = ansible_cfg()
    assert cfg.getboolean("defaults", "host_key_checking", fallback=True) is True
    for section in cfg.sections():
        for key, value in cfg.items(section):
            assert not KEY_CHECKING_OFF.search(f"{key} = {value}"), f"ansible.cfg [{section}] {key} = {value}"


def test_no_default_inventory_points_at_the_test_bed():
    assert not ansible_cfg().has_option("defaults", "inventory")


def test_inventories_for_real_hosts_keep_host_key_checking():
    files = [p for p in (REPO / "inventories").rglob("*") if p.is_file() and "testbed" not in p.parts]
    assert any(p.suffix in {".yml", ".yaml"} for p in files), "no inventory found"
    for path in files:
        assert not KEY_CHECKING_OFF.search(path.read_text()), f"{path} turns host-key checking off"


def test_the_pattern_catches_what_turns_checking_off():
    """The check above can fail: each form that disables checking is caught, checking on is not."""
    for text in ["-o StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "host_key_checking = False",
                 "ansible_host_key_checking: false", "-o StrictHostKeyChecking off"]:
        assert KEY_CHECKING_OFF.search(text), text
    for text in ["-o StrictHostKeyChecking=yes", "-o StrictHostKeyChecking=accept-new", "host_key_checking = True",
                 "ansible_host_key_checking: true"]:
        assert not KEY_CHECKING_OFF.search(text), text


def test_the_generated_test_bed_inventory_turns_it_off_for_its_own_hosts_only():
    """scripts/testbed.py writes the setting into the inventory it generates, not into ansible.cfg."""
    source = (REPO / "scripts" / "testbed.py").read_text()
    assert "StrictHostKeyChecking=no" in source
    written = REPO / "inventories" / "testbed" / "hosts.yml"
    if written.exists():
        inventory = yaml.safe_load(written.read_text())
        assert KEY_CHECKING_OFF.search(inventory["all"]["vars"]["ansible_ssh_common_args"])
