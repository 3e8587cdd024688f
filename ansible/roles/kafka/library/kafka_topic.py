#!/usr/bin/python
"""Ansible module ``kafka_topic``: a topic as declared, through the admin classes in Kafka's own jars."""

from __future__ import annotations

import re

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kafka_topic
short_description: A Kafka topic exists with the declared partitions, replication factor and configs
description:
  - Describes the topic with C(kafka.admin.TopicCommand --describe) first and changes only what differs from the
    declaration; a second run with the same declaration reports no change.
  - A missing topic is created (C(TopicCommand --create)); fewer partitions than declared are grown
    (C(TopicCommand --alter --partitions)); configs that differ are set with
    C(kafka.admin.ConfigCommand --alter --entity-type topics --add-config).
  - Kafka cannot shrink partitions and TopicCommand cannot change the replication factor of an existing topic
    (that takes a partition reassignment): both differences are reported as warnings, never acted on.
  - Configs not in the declaration are left as they are.
  - Talks to the brokers with C(--bootstrap-server) only; C(--zookeeper) was removed in Kafka 3.0.
options:
  name:
    description: Topic name.
    type: str
    required: true
  state:
    description: C(absent) deletes the topic (the brokers must allow it, C(delete.topic.enable)).
    type: str
    choices: [present, absent]
    default: present
  partitions:
    description: Number of partitions.
    type: int
    default: 1
  replication_factor:
    description: Replication factor used when the topic is created.
    type: int
    default: 1
  configs:
    description: Topic-level configs (C(retention.ms) and the like); lists are joined with commas.
    type: dict
    default: {}
  bootstrap_server:
    description: C(host:port) of one or more brokers, comma separated.
    type: str
    required: true
  java:
    description: Path of the java launcher.
    type: path
    required: true
  classpath:
    description: Class path holding Kafka's jars, usually C(<kafka home>/libs/*).
    type: str
    required: true
  log4j_config:
    description: log4j 1.x configuration for the tools (warnings to stderr).
    type: path
  command_config:
    description: Properties file of the admin client (TLS and SASL settings), passed as C(--command-config).
    type: path
  heap_opts:
    description: Heap flags for the tool JVMs.
    type: str
    default: -Xmx256M
  command_timeout:
    description: Seconds after which one tool invocation is killed.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: Topic twitter exists
  kafka_topic:
    name: twitter
    partitions: 3
    replication_factor: 3
    configs:
      retention.ms: 604800000
    bootstrap_server: 10.0.0.11:9092
    java: /usr/lib/jvm/java-17-openjdk-amd64/bin/java
    classpath: /opt/kafka/current/libs/*
"""

RETURN = r"""
actions:
  description: What was done (or would be, in check mode).
  returned: always
  type: list
  elements: str
before:
  description: The topic as described before any change (null when it did not exist).
  returned: always
  type: dict
"""

TOPIC_COMMAND = "kafka.admin.TopicCommand"
CONFIG_COMMAND = "kafka.admin.ConfigCommand"


def config_value(value: object) -> str:
    """The string Kafka expects for a config value given in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(config_value(item) for item in value)
    return str(value)


def parse_configs(text: str) -> dict[str, str]:
    """``a=1,cleanup.policy=compact,delete,b=2`` -> a dict; a piece without ``=`` continues the previous value."""
    configs: dict[str, str] = {}
    last = None
    for piece in text.strip().split(","):
        if not piece:
            continue
        if "=" in piece:
            key, _, value = piece.partition("=")
            configs[key.strip()] = value
            last = key.strip()
        elif last is not None:
            configs[last] += "," + piece
    return configs


def parse_describe(name: str, stdout: str) -> dict | None:
    """The summary line of ``TopicCommand --describe`` for exactly ``name`` (the --topic filter is a regex)."""
    for line in stdout.splitlines():
        if not line.startswith("Topic:"):
            continue  # partition lines start with a tab
        fields = {}
        for part in line.split("\t"):
            key, sep, value = part.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if fields.get("Topic") != name:
            continue
        return {
            "name": name,
            "partitions": int(fields["PartitionCount"]),
            "replication_factor": int(fields["ReplicationFactor"]),
            "configs": parse_configs(fields.get("Configs", "")),
        }
    return None


class Topics:
    """Runs Kafka's admin classes with the module's JVM settings."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.base = ["timeout", str(params["command_timeout"]), params["java"], *params["heap_opts"].split()]
        if params["log4j_config"]:
            self.base.append(f"-Dlog4j.configuration=file:{params['log4j_config']}")
        self.base += ["-cp", params["classpath"]]
        self.bootstrap = ["--bootstrap-server", params["bootstrap_server"]]
        if params["command_config"]:
            self.bootstrap += ["--command-config", params["command_config"]]

    def run(self, main_class: str, *args: str) -> str:
        argv = [*self.base, main_class, *self.bootstrap, *args]
        rc, stdout, stderr = self.module.run_command(argv)
        if rc != 0:
            self.module.fail_json(
                msg=f"{main_class} {' '.join(args)} failed (rc={rc}): {stderr.strip() or stdout.strip()}",
                rc=rc, stdout=stdout, stderr=stderr, cmd=argv,
            )
        return stdout

    def describe(self, name: str) -> dict | None:
        # --topic is a regular expression: escape the dots a topic name may hold.
        stdout = self.run(TOPIC_COMMAND, "--describe", "--topic", re.escape(name), "--if-exists")
        return parse_describe(name, stdout)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "partitions": {"type": "int", "default": 1},
            "replication_factor": {"type": "int", "default": 1},
            "configs": {"type": "dict", "default": {}},
            "bootstrap_server": {"type": "str", "required": True},
            "java": {"type": "path", "required": True},
            "classpath": {"type": "str", "required": True},
            "log4j_config": {"type": "path"},
            "command_config": {"type": "path"},
            "heap_opts": {"type": "str", "default": "-Xmx256M"},
            "command_timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    params = module.params
    name = params["name"]
    if params["partitions"] < 1 or params["replication_factor"] < 1:
        module.fail_json(msg=f"topic {name}: partitions and replication_factor must be at least 1")
    topics = Topics(module)
    before = topics.describe(name)
    actions: list[str] = []
    warnings: list[str] = []

    if params["state"] == "absent":
        if before is not None:
            actions.append(f"delete topic {name}")
            if not module.check_mode:
                topics.run(TOPIC_COMMAND, "--delete", "--topic", re.escape(name))
        module.exit_json(changed=bool(actions), actions=actions, before=before,
                         diff={"before": before or {}, "after": {}})

    wanted_configs = {key: config_value(value) for key, value in params["configs"].items()}
    after = {
        "name": name,
        "partitions": params["partitions"],
        "replication_factor": params["replication_factor"],
        "configs": dict(wanted_configs),
    }
    if before is None:
        args = ["--create", "--topic", name, "--partitions", str(params["partitions"]),
                "--replication-factor", str(params["replication_factor"])]
        for key, value in sorted(wanted_configs.items()):
            args += ["--config", f"{key}={value}"]
        actions.append(f"create topic {name}")
        if not module.check_mode:
            topics.run(TOPIC_COMMAND, *args)
    else:
        after["configs"] = {**before["configs"], **wanted_configs}
        if params["partitions"] > before["partitions"]:
            actions.append(f"grow {name} from {before['partitions']} to {params['partitions']} partitions")
            if not module.check_mode:
                topics.run(TOPIC_COMMAND, "--alter", "--topic", re.escape(name),
                           "--partitions", str(params["partitions"]))
        elif params["partitions"] < before["partitions"]:
            after["partitions"] = before["partitions"]
            warnings.append(f"topic {name} has {before['partitions']} partitions, {params['partitions']} declared: "
                            "Kafka cannot reduce partitions; left as is")
        if params["replication_factor"] != before["replication_factor"]:
            after["replication_factor"] = before["replication_factor"]
            warnings.append(f"topic {name} has replication factor {before['replication_factor']}, "
                            f"{params['replication_factor']} declared: changing it takes a partition "
                            "reassignment (kafka-reassign-partitions); left as is")
        changed_configs = {k: v for k, v in wanted_configs.items() if before["configs"].get(k) != v}
        if changed_configs:
            # A value holding commas is bracketed, as ConfigCommand's --add-config syntax wants.
            spec = ",".join(f"{k}=[{v}]" if "," in v else f"{k}={v}" for k, v in sorted(changed_configs.items()))
            actions.append(f"set configs of {name}: {spec}")
            if not module.check_mode:
                topics.run(CONFIG_COMMAND, "--alter", "--entity-type", "topics", "--entity-name", name,
                           "--add-config", spec)

    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=bool(actions), actions=actions, before=before,
                     diff={"before": before or {}, "after": after})


if __name__ == "__main__":
    main()
