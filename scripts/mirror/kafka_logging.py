"""The logging configuration each Kafka release line ships in ``config/``, and how a JVM is pointed at it.

Up to 3.9 Kafka logs through log4j 1.x (log4j 1.2.17, then reload4j): ``config/log4j.properties`` for the broker and
``config/tools-log4j.properties`` for the command-line tools, passed as ``-Dlog4j.configuration=file:<path>``.
Kafka 4.0 moved to Log4j 2 and its release ships YAML: ``config/log4j2.yaml`` and ``config/tools-log4j2.yaml``,
passed as ``-Dlog4j2.configurationFile=<path>`` (read through jackson-dataformat-yaml, which 4.x has in ``libs/``).
Both broker configurations write the same files under ``${kafka.logs.dir}``: server.log, state-change.log,
kafka-request.log, log-cleaner.log, controller.log, kafka-authorizer.log, rolled hourly.

    config = logging_for("4.4.0")
    ["java", config.jvm_flag(home / config.broker), "-Dkafka.logs.dir=...", "-cp", ..., "kafka.Kafka", ...]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LOG4J2_SINCE = 4  # the first Kafka major release on Log4j 2


@dataclass(frozen=True)
class LoggingConfig:
    """The broker's and the tools' logging files of one release line (names under ``config/``) and their text."""

    broker: str
    tools: str
    broker_text: str
    tools_text: str
    system_property: str  # the JVM property that names the file
    url_prefix: str  # what goes before the path in that property's value

    def jvm_flag(self, path: Path) -> str:
        """``-D<property>=<path>`` pointing the JVM at the configuration file ``path``."""
        return f"-D{self.system_property}={self.url_prefix}{path}"

    def files(self) -> dict[str, str]:
        """File name under ``config/`` -> its text."""
        return {self.broker: self.broker_text, self.tools: self.tools_text}


LOG4J_PROPERTIES = """\
# Broker logging (log4j 1.x / reload4j), as in the Apache Kafka release.
# kafka-run-class.sh passes -Dkafka.logs.dir=<install>/logs; without bin/, pass it yourself together with
# -Dlog4j.configuration=file:<install>/config/log4j.properties. A -D system property wins over the default below,
# which is relative to the JVM's working directory.
kafka.logs.dir=logs

# Unspecified loggers and loggers with additivity=true output to server.log and stdout.
log4j.rootLogger=INFO, stdout, kafkaAppender

log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.kafkaAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.kafkaAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.kafkaAppender.File=${kafka.logs.dir}/server.log
log4j.appender.kafkaAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.kafkaAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.stateChangeAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.stateChangeAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.stateChangeAppender.File=${kafka.logs.dir}/state-change.log
log4j.appender.stateChangeAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.stateChangeAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.requestAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.requestAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.requestAppender.File=${kafka.logs.dir}/kafka-request.log
log4j.appender.requestAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.requestAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.cleanerAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.cleanerAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.cleanerAppender.File=${kafka.logs.dir}/log-cleaner.log
log4j.appender.cleanerAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.cleanerAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.controllerAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.controllerAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.controllerAppender.File=${kafka.logs.dir}/controller.log
log4j.appender.controllerAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.controllerAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.authorizerAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.authorizerAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.authorizerAppender.File=${kafka.logs.dir}/kafka-authorizer.log
log4j.appender.authorizerAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.authorizerAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

# ZooKeeper (server and the broker's client).
log4j.logger.org.apache.zookeeper=INFO

# General broker logging level (server.log and stdout).
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO

# Change to DEBUG or TRACE to enable request logging.
log4j.logger.kafka.request.logger=WARN, requestAppender
log4j.additivity.kafka.request.logger=false
log4j.logger.kafka.network.RequestChannel$=WARN, requestAppender
log4j.additivity.kafka.network.RequestChannel$=false

log4j.logger.kafka.controller=TRACE, controllerAppender
log4j.additivity.kafka.controller=false

log4j.logger.kafka.log.LogCleaner=INFO, cleanerAppender
log4j.additivity.kafka.log.LogCleaner=false

log4j.logger.state.change.logger=INFO, stateChangeAppender
log4j.additivity.state.change.logger=false

# Access denials are logged at INFO, change to DEBUG to also log allowed accesses.
log4j.logger.kafka.authorizer.logger=INFO, authorizerAppender
log4j.additivity.kafka.authorizer.logger=false
"""

TOOLS_LOG4J_PROPERTIES = """\
# Command-line tools (TopicCommand, console producer/consumer): warnings and errors to stderr.
log4j.rootLogger=WARN, stderr

log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
"""


LOG4J2_YAML = """\
# Broker logging (Log4j 2), the same files as the log4j 1.x configuration of Kafka 3.x, rolled every hour.
# Start the JVM with -Dlog4j2.configurationFile=<install>/config/log4j2.yaml -Dkafka.logs.dir=<logs>; without
# -Dkafka.logs.dir the files go to logs/ under the JVM's working directory.
Configuration:
  Properties:
    Property:
      - name: logDir
        value: "${sys:kafka.logs.dir:-logs}"
      - name: pattern
        value: "[%d] %p %m (%c)%n"

  Appenders:
    Console:
      name: Stdout
      PatternLayout:
        pattern: "${pattern}"
    RollingFile:
      - name: Server
        fileName: "${logDir}/server.log"
        filePattern: "${logDir}/server.log.%d{yyyy-MM-dd-HH}"
        PatternLayout: {pattern: "${pattern}"}
        TimeBasedTriggeringPolicy: {interval: 1, modulate: true}
      - name: StateChange
        fileName: "${logDir}/state-change.log"
        filePattern: "${logDir}/state-change.log.%d{yyyy-MM-dd-HH}"
        PatternLayout: {pattern: "${pattern}"}
        TimeBasedTriggeringPolicy: {interval: 1, modulate: true}
      - name: Request
        fileName: "${logDir}/kafka-request.log"
        filePattern: "${logDir}/kafka-request.log.%d{yyyy-MM-dd-HH}"
        PatternLayout: {pattern: "${pattern}"}
        TimeBasedTriggeringPolicy: {interval: 1, modulate: true}
      - name: Cleaner
        fileName: "${logDir}/log-cleaner.log"
        filePattern: "${logDir}/log-cleaner.log.%d{yyyy-MM-dd-HH}"
        PatternLayout: {pattern: "${pattern}"}
        TimeBasedTriggeringPolicy: {interval: 1, modulate: true}
      - name: Controller
        fileName: "${logDir}/controller.log"
        filePattern: "${logDir}/controller.log.%d{yyyy-MM-dd-HH}"
        PatternLayout: {pattern: "${pattern}"}
        TimeBasedTriggeringPolicy: {interval: 1, modulate: true}
      - name: Authorizer
        fileName: "${logDir}/kafka-authorizer.log"
        filePattern: "${logDir}/kafka-authorizer.log.%d{yyyy-MM-dd-HH}"
        PatternLayout: {pattern: "${pattern}"}
        TimeBasedTriggeringPolicy: {interval: 1, modulate: true}

  Loggers:
    # Loggers not named below (and those with additivity) write to server.log and stdout.
    Root:
      level: INFO
      AppenderRef:
        - ref: Stdout
        - ref: Server
    Logger:
      - name: kafka
        level: INFO
      - name: org.apache.kafka
        level: INFO
      # DEBUG or TRACE here logs every request.
      - name: kafka.request.logger
        level: WARN
        additivity: false
        AppenderRef: {ref: Request}
      - name: kafka.network.RequestChannel$
        level: WARN
        additivity: false
        AppenderRef: {ref: Request}
      # The KRaft controller (quorum, metadata changes).
      - name: org.apache.kafka.controller
        level: INFO
        additivity: false
        AppenderRef: {ref: Controller}
      - name: org.apache.kafka.storage.internals.log.LogCleaner
        level: INFO
        additivity: false
        AppenderRef: {ref: Cleaner}
      - name: org.apache.kafka.storage.internals.log.LogCleaner$CleanerThread
        level: INFO
        additivity: false
        AppenderRef: {ref: Cleaner}
      - name: org.apache.kafka.storage.internals.log.Cleaner
        level: INFO
        additivity: false
        AppenderRef: {ref: Cleaner}
      - name: state.change.logger
        level: INFO
        additivity: false
        AppenderRef: {ref: StateChange}
      # Access denials are logged at INFO; DEBUG also logs what was allowed.
      - name: kafka.authorizer.logger
        level: INFO
        additivity: false
        AppenderRef: {ref: Authorizer}
"""

TOOLS_LOG4J2_YAML = """\
# Command-line tools (TopicCommand, StorageTool, console producer/consumer): warnings and errors to stderr.
Configuration:
  Appenders:
    Console:
      name: Stderr
      target: SYSTEM_ERR
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: Stderr
"""

LOG4J1 = LoggingConfig(
    broker="log4j.properties",
    tools="tools-log4j.properties",
    broker_text=LOG4J_PROPERTIES,
    tools_text=TOOLS_LOG4J_PROPERTIES,
    system_property="log4j.configuration",
    url_prefix="file:",
)
LOG4J2 = LoggingConfig(
    broker="log4j2.yaml",
    tools="tools-log4j2.yaml",
    broker_text=LOG4J2_YAML,
    tools_text=TOOLS_LOG4J2_YAML,
    system_property="log4j2.configurationFile",
    url_prefix="",
)


def logging_for(version: str) -> LoggingConfig:
    """The logging configuration Kafka ``version`` (``major.minor.patch``) ships and reads."""
    major = version.split(".", 1)[0]
    if not major.isdigit():
        raise ValueError(f"kafka version {version!r} does not start with a major release number")
    return LOG4J2 if int(major) >= LOG4J2_SINCE else LOG4J1
