#!/usr/bin/python
"""Ansible module ``kafka_acl``: each client's ACLs exactly as declared, through Kafka's AclCommand."""

from __future__ import annotations

import re

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kafka_acl
short_description: Kafka clients have exactly the ACLs their declaration grants
description:
  - Each client (a SCRAM user) is declared with the topics it produces to and consumes from and the consumer
    group prefixes it reads. produce grants Write, Describe and Create on each topic and IdempotentWrite on the
    cluster; consume grants Read and Describe; groups grants Read on groups whose names start with the prefix.
  - The brokers' ACLs are listed first (C(kafka.admin.AclCommand --list)); missing ACLs are added, and ACLs of a
    declared client that the declaration does not grant are removed, so a client can do nothing else. ACLs of
    other principals are left alone.
  - Talks to the brokers with C(--bootstrap-server) and the admin client's C(--command-config).
options:
  clients:
    description: Clients, each C(name), C(produce) (topics), C(consume) (topics), C(groups) (prefixes).
    type: list
    elements: dict
    required: true
  bootstrap_server:
    description: C(host:port) of one or more brokers.
    type: str
    required: true
  command_config:
    description: Properties file of the admin client (security settings).
    type: path
  java:
    description: Path of the java launcher.
    type: path
    required: true
  classpath:
    description: Class path holding Kafka's jars.
    type: str
    required: true
  log4j_config:
    description: log4j 1.x configuration for the tool.
    type: path
  command_timeout:
    description: Seconds after which one tool invocation is killed.
    type: int
    default: 120
"""

RETURN = r"""
added:
  description: ACLs added, as C(principal operation resourceType:patternType:name).
  returned: always
  type: list
  elements: str
removed:
  description: ACLs removed, in the same form.
  returned: always
  type: list
  elements: str
"""

ACL_COMMAND = "kafka.admin.AclCommand"
RESOURCE = re.compile(r"ResourcePattern\(resourceType=(\w+), name=(.*?), patternType=(\w+)\)")
ENTRY = re.compile(r"\(principal=([^,]+), host=([^,]+), operation=(\w+), permissionType=(\w+)\)")
# (principal, operation, resource type, pattern type, resource name); permission ALLOW and host * throughout.
Acl = tuple[str, str, str, str, str]


def declared(clients: list[dict]) -> set[Acl]:
    """The ACLs the client declarations grant."""
    acls: set[Acl] = set()
    for client in clients:
        principal = f"User:{client['name']}"
        for topic in client.get("produce") or []:
            acls |= {(principal, op, "TOPIC", "LITERAL", topic) for op in ("WRITE", "DESCRIBE", "CREATE")}
        if client.get("produce"):
            acls.add((principal, "IDEMPOTENT_WRITE", "CLUSTER", "LITERAL", "kafka-cluster"))
        for topic in client.get("consume") or []:
            acls |= {(principal, op, "TOPIC", "LITERAL", topic) for op in ("READ", "DESCRIBE")}
        for prefix in client.get("groups") or []:
            acls.add((principal, "READ", "GROUP", "PREFIXED", prefix))
    return acls


def parse_list(stdout: str) -> set[Acl]:
    """The ALLOW ACLs for any host in ``AclCommand --list`` output."""
    acls: set[Acl] = set()
    resource = None
    for line in stdout.splitlines():
        found = RESOURCE.search(line)
        if found:
            resource = found.groups()
            continue
        entry = ENTRY.search(line)
        if entry and resource is not None:
            principal, host, operation, permission = entry.groups()
            if host == "*" and permission == "ALLOW":
                acls.add((principal, operation, resource[0], resource[2], resource[1]))
    return acls


def command_args(acls: list[Acl]) -> list[list[str]]:
    """AclCommand arguments for ``acls``, one invocation per principal, resource type, pattern type and set of
    operations (each tool run starts a JVM: several resources and operations go in one run)."""
    by_resource: dict[tuple[str, str, str, str], set[str]] = {}
    for principal, operation, resource_type, pattern_type, name in acls:
        by_resource.setdefault((principal, resource_type, pattern_type, name), set()).add(operation)
    runs: dict[tuple[str, str, str, tuple[str, ...]], list[str]] = {}
    for (principal, resource_type, pattern_type, name), operations in sorted(by_resource.items()):
        runs.setdefault((principal, resource_type, pattern_type, tuple(sorted(operations))), []).append(name)
    argvs = []
    for (principal, resource_type, pattern_type, operations), names in runs.items():
        argv = ["--allow-principal", principal, "--allow-host", "*"]
        for operation in operations:  # AclCommand's names are CamelCase: IDEMPOTENT_WRITE -> IdempotentWrite
            argv += ["--operation", "".join(word.capitalize() for word in operation.split("_"))]
        for name in names:
            argv += {"TOPIC": ["--topic", name], "GROUP": ["--group", name], "CLUSTER": ["--cluster"]}[resource_type]
        argvs.append([*argv, "--resource-pattern-type", pattern_type.lower()])
    return argvs


def label(acl: Acl) -> str:
    principal, operation, resource_type, pattern_type, name = acl
    return f"{principal} {operation} {resource_type}:{pattern_type}:{name}"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "clients": {"type": "list", "elements": "dict", "required": True},
            "bootstrap_server": {"type": "str", "required": True},
            "command_config": {"type": "path"},
            "java": {"type": "path", "required": True},
            "classpath": {"type": "str", "required": True},
            "log4j_config": {"type": "path"},
            "command_timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    params = module.params
    base = ["timeout", str(params["command_timeout"]), params["java"], "-Xmx256M"]
    if params["log4j_config"]:
        base.append(f"-Dlog4j.configuration=file:{params['log4j_config']}")
    base += ["-cp", params["classpath"], ACL_COMMAND, "--bootstrap-server", params["bootstrap_server"]]
    if params["command_config"]:
        base += ["--command-config", params["command_config"]]

    def run(*args: str) -> str:
        rc, stdout, stderr = module.run_command([*base, *args])
        if rc != 0 or "Error while executing" in stdout + stderr:
            module.fail_json(msg=f"AclCommand {' '.join(args)} failed (rc={rc}): {(stderr or stdout).strip()[-2000:]}")
        return stdout

    for client in params["clients"]:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", str(client.get("name") or "")):
            module.fail_json(msg=f"client {client.get('name')!r}: a name of [A-Za-z0-9._-]+ is required")
    wanted = declared(params["clients"])
    managed = {f"User:{client['name']}" for client in params["clients"]}
    current = {acl for acl in parse_list(run("--list")) if acl[0] in managed}
    added = sorted(wanted - current)
    removed = sorted(current - wanted)
    if not module.check_mode:
        for argv in command_args(added):
            run("--add", "--force", *argv)
        for argv in command_args(removed):
            run("--remove", "--force", *argv)
    module.exit_json(changed=bool(added or removed), added=[label(a) for a in added],
                     removed=[label(a) for a in removed])


if __name__ == "__main__":
    main()
