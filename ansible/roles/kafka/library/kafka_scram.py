#!/usr/bin/python
"""Ansible module ``kafka_scram``: SCRAM credentials in ZooKeeper, checked against the stored keys first."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kafka_scram
short_description: Kafka SCRAM credentials exist in ZooKeeper with the given passwords
description:
  - For each user, C(kafka.admin.ConfigCommand --zookeeper --describe --entity-type users) shows the stored salt,
    stored key and iterations; the given password is checked against them (RFC 5802) and the credential is
    written again only when it does not match or is missing, so a second run reports no change.
  - Talks to ZooKeeper, so credentials exist before the brokers start (the brokers' own inter-broker identity).
  - Passwords go to ConfigCommand in a file readable by root only (C(--add-config-file)), never on a command line,
    and never in the module's result or messages.
options:
  users:
    description: Users, each C(name) and C(password).
    type: list
    elements: dict
    required: true
  mechanism:
    description: SCRAM mechanism.
    type: str
    choices: [SCRAM-SHA-512, SCRAM-SHA-256]
    default: SCRAM-SHA-512
  iterations:
    description: Iterations of a newly stored credential.
    type: int
    default: 8192
  zookeeper_connect:
    description: ZooKeeper connection string (with the chroot, if any).
    type: str
    required: true
  java:
    description: Path of the java launcher.
    type: path
    required: true
  classpath:
    description: Class path holding Kafka's jars.
    type: str
    required: true
  jvm_args:
    description: More JVM flags (log4j configuration, a JAAS file for ZooKeeper SASL).
    type: list
    elements: str
    default: []
  command_timeout:
    description: Seconds after which one tool invocation is killed.
    type: int
    default: 120
"""

RETURN = r"""
changed_users:
  description: Users whose credential was written (or would be, in check mode).
  returned: always
  type: list
  elements: str
"""

CONFIG_COMMAND = "kafka.admin.ConfigCommand"
HASHES = {"SCRAM-SHA-512": "sha512", "SCRAM-SHA-256": "sha256"}


def stored_credential(stdout: str, mechanism: str) -> dict[str, str] | None:
    """salt, stored_key, server_key, iterations of ``mechanism`` in ConfigCommand's describe output, or None."""
    match = re.search(re.escape(mechanism) + r"=\[?salt=([^,\]]+),stored_key=([^,\]]+),server_key=([^,\]]+),"
                      r"iterations=(\d+)", stdout)
    if not match:
        return None
    return dict(zip(("salt", "stored_key", "server_key", "iterations"), match.groups(), strict=True))


def matches(password: str, credential: dict[str, str], mechanism: str) -> bool:
    """True if ``password`` yields the credential's stored and server keys (RFC 5802, as Kafka's ScramFormatter)."""
    algorithm = HASHES[mechanism]
    salted = hashlib.pbkdf2_hmac(algorithm, password.encode(), base64.b64decode(credential["salt"]),
                                 int(credential["iterations"]))
    client_key = hmac.new(salted, b"Client Key", algorithm).digest()
    stored_key = hashlib.new(algorithm, client_key).digest()
    server_key = hmac.new(salted, b"Server Key", algorithm).digest()
    return (hmac.compare_digest(stored_key, base64.b64decode(credential["stored_key"]))
            and hmac.compare_digest(server_key, base64.b64decode(credential["server_key"])))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "users": {"type": "list", "elements": "dict", "required": True, "no_log": True},
            "mechanism": {"type": "str", "choices": list(HASHES), "default": "SCRAM-SHA-512"},
            "iterations": {"type": "int", "default": 8192},
            "zookeeper_connect": {"type": "str", "required": True},
            "java": {"type": "path", "required": True},
            "classpath": {"type": "str", "required": True},
            "jvm_args": {"type": "list", "elements": "str", "default": []},
            "command_timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    params = module.params
    mechanism = params["mechanism"]
    base = ["timeout", str(params["command_timeout"]), params["java"], "-Xmx256M", *params["jvm_args"],
            "-cp", params["classpath"], CONFIG_COMMAND, "--zookeeper", params["zookeeper_connect"]]

    def run(name: str, *args: str) -> str:
        rc, stdout, stderr = module.run_command([*base, *args])
        if rc != 0:
            # Only the user name and the tool's own message (which never holds the password) are reported.
            module.fail_json(msg=f"ConfigCommand {args[0]} for user {name} failed (rc={rc}): "
                                 f"{(stderr or stdout).strip()[-2000:]}")
        return stdout

    changed: list[str] = []
    for user in params["users"]:
        name, password = str(user.get("name") or ""), str(user.get("password") or "")
        if not name or not password:
            module.fail_json(msg=f"every user needs a name and a password (user {name or '<no name>'})")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or "," in password or "\n" in password:
            module.fail_json(msg=f"user {name}: names are [A-Za-z0-9._-]+ and passwords hold no comma or newline")
        stdout = run(name, "--describe", "--entity-type", "users", "--entity-name", name)
        credential = stored_credential(stdout, mechanism)
        if credential is not None and matches(password, credential, mechanism):
            continue
        changed.append(name)
        if module.check_mode:
            continue
        fd, path = tempfile.mkstemp(prefix="scram-", suffix=".properties")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(f"{mechanism}=iterations={params['iterations']},password={password}\n")
            run(name, "--alter", "--entity-type", "users", "--entity-name", name, "--add-config-file", path)
        finally:
            os.unlink(path)
    module.exit_json(changed=bool(changed), changed_users=changed)


if __name__ == "__main__":
    main()
