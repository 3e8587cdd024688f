"""The distro matrix: without any host, every role's variables resolve and its templates render on every distro.

One ``ansible-playbook`` run covers every (distro, role) pair, with Ansible's own variable precedence and Jinja
environment (two more runs, started alongside, vary java_version and check the harness on broken role copies).
Each supported distro is a fake host (``connection: local``) whose facts come from ``distro_facts.yml`` through
``set_fact: cacheable``, so they land in ``ansible_facts`` as gathered facts would.
For each role under ``ansible/roles/`` (found by listing the directory, so new roles are covered without edits)
a play then does what the role does before it touches a host:

1. has the role's ``defaults/main.yml`` (as variables of the ``all`` group, the lowest precedence), then
   ``tests/static/matrix_vars/<role>.yml`` if there is one (inputs a role requires from the inventory), then
   ``vars/main.yml`` (as host variables);
2. resolves the per-distro variables the role's own way: runs ``tasks/vars.yml`` when the role has one (the
   first_found include, promotion of private values to public ones, support checks), otherwise copies the
   ``include_vars`` tasks of the role's task files verbatim;
3. validates the values against ``meta/argument_specs.yml``;
4. checks that every ``__<role>_*`` variable the tasks, handlers, templates and defaults reference is defined
   (registers, task vars and set_fact results only exist at run time and are left out), and renders every
   variable the role defines, so a nested reference to something missing fails too;
5. renders the task-file names that depend on facts (``install-{{ ansible_facts['os_family'] }}.yml``) and every
   template in ``templates/`` with ``lookup('template')``.

A failure is rescued per host and role, and the run ends by writing one JSON report: per host and role, pass or
fail, the error, the values, the rendered templates. Values that other roles set at run time (``java_home``)
come from ``runtime_vars`` in the fixture.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES_DIR = REPO / "ansible" / "roles"
HERE = Path(__file__).resolve().parent
FACTS_FILE = HERE / "distro_facts.yml"
ROLE_INPUTS_DIR = HERE / "matrix_vars"

SUPPORTED = ["rocky8", "rocky9", "rhel8", "rhel9", "amazon2023", "debian12", "ubuntu2204", "ubuntu2404"]
REDHAT_FAMILY = ["rocky8", "rocky9", "rhel8", "rhel9", "amazon2023"]
DEBIAN_FAMILY = ["debian12", "ubuntu2204", "ubuntu2404"]
# One distro per kind of vars file (EL, Amazon, Debian, Ubuntu), for the runs that vary inputs, not distros.
REPRESENTATIVES = ["rocky9", "amazon2023", "debian12", "ubuntu2404"]

INCLUDE_VARS = {"include_vars", "ansible.builtin.include_vars", "ansible.legacy.include_vars"}
SET_FACT = {"set_fact", "ansible.builtin.set_fact", "ansible.legacy.set_fact"}
TASK_FILES = {"include_tasks", "import_tasks", "ansible.builtin.include_tasks", "ansible.builtin.import_tasks"}


# ------------------------------------------------------------------------------------------------ role scan
@dataclass
class RoleScan:
    """What the matrix needs to know about a role, read from its files."""

    name: str
    path: Path
    templates: list[str]  # paths under templates/
    private_refs: list[str]  # __<role>_* names that must be defined before the role runs
    names: list[str]  # every variable the role's files define, declare or use, rendered where defined
    task_file_exprs: list[str]  # task-file names with templates in them
    vars_tasks: list[dict[str, Any]]  # the role's include_vars tasks, for roles without tasks/vars.yml
    argument_spec: dict[str, Any]


def discover_roles(roles_dir: Path) -> list[str]:
    return sorted(p.name for p in roles_dir.iterdir() if (p / "tasks" / "main.yml").is_file())


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def _yaml_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]) if directory.is_dir() else []


def _walk_tasks(tasks: Any) -> Iterator[dict[str, Any]]:
    for task in tasks or []:
        if isinstance(task, dict):
            yield task
            for key in ("block", "rescue", "always"):
                yield from _walk_tasks(task.get(key))


def _run_time_names(task: dict[str, Any]) -> set[str]:
    """Variables a task defines for itself or later tasks while the play runs."""
    names: set[str] = set()
    if isinstance(task.get("register"), str):
        names.add(task["register"])
    if isinstance(task.get("vars"), dict):
        names.update(task["vars"])
    loop_control = task.get("loop_control")
    if isinstance(loop_control, dict) and isinstance(loop_control.get("loop_var"), str):
        names.add(loop_control["loop_var"])
    for action in SET_FACT & task.keys():
        if isinstance(task[action], dict):
            names.update(k for k in task[action] if k != "cacheable")
    return names


def scan_role(path: Path) -> RoleScan:
    name = path.name
    task_files = _yaml_files(path / "tasks") + _yaml_files(path / "handlers")
    tasks = [task for f in task_files for task in _walk_tasks(_yaml(f))]

    referencing = [*task_files, *_yaml_files(path / "defaults")]
    templates_dir = path / "templates"
    templates = sorted(str(p.relative_to(templates_dir)) for p in templates_dir.rglob("*") if p.is_file()) \
        if templates_dir.is_dir() else []
    referencing += [templates_dir / t for t in templates]
    private = re.compile(rf"(?<!\w){re.escape(f'__{name}_')}\w+")
    referenced = {m for f in referencing for m in private.findall(f.read_text())}
    run_time = set().union(*(_run_time_names(t) for t in tasks)) if tasks else set()

    argument_spec = ((_yaml(path / "meta" / "argument_specs.yml") or {}).get("argument_specs") or {}).get("main") or {}
    options = argument_spec.get("options") or {}
    defined = {key for f in [*_yaml_files(path / "defaults"), *_yaml_files(path / "vars")] for key in (_yaml(f) or {})}

    task_file_exprs = []
    for task in tasks:
        for action in TASK_FILES & task.keys():
            target = task[action]["file"] if isinstance(task[action], dict) else task[action]
            if isinstance(target, str) and "{{" in target:
                task_file_exprs.append(target)

    vars_tasks = [] if (path / "tasks" / "vars.yml").is_file() else [
        copy.deepcopy(t) for t in tasks if INCLUDE_VARS & t.keys()
    ]
    return RoleScan(
        name=name,
        path=path,
        templates=templates,
        private_refs=sorted(referenced - run_time),
        names=sorted(defined | set(options) | referenced),
        task_file_exprs=sorted(set(task_file_exprs)),
        vars_tasks=vars_tasks,
        argument_spec=options,
    )


# ------------------------------------------------------------------------------------------------ harness
def load_fixture() -> dict[str, Any]:
    return yaml.safe_load(FACTS_FILE.read_text())


def host_facts(fixture: dict[str, Any], distro: str, hostname: str, index: int) -> dict[str, Any]:
    facts = {**fixture["common"], **fixture["distros"][distro]}
    domain = facts.get("domain", "example.org")
    address = f"192.0.{2 + index // 200}.{10 + index % 200}"
    facts.update(
        hostname=hostname,
        nodename=hostname,
        fqdn=f"{hostname}.{domain}",
        default_ipv4={"address": address, "interface": "eth0", "netmask": "255.255.255.0"},
        all_ipv4_addresses=[address],
    )
    return facts


def _role_play(scan: RoleScan) -> dict[str, Any]:
    # Every task costs a worker process per host, so the play is as few tasks as the checks allow.
    steps: list[dict[str, Any]] = []
    if (scan.path / "tasks" / "vars.yml").is_file():
        steps.append({
            "name": "Per-distro variables resolve the role's way (tasks/vars.yml)",
            "ansible.builtin.import_tasks": str(scan.path / "tasks" / "vars.yml"),
        })
    else:
        steps += copy.deepcopy(scan.vars_tasks)
    if scan.argument_spec:
        steps.append({
            "name": "The values satisfy meta/argument_specs.yml",
            "ansible.builtin.validate_argument_spec": {"argument_spec": scan.argument_spec},
        })
    steps.append({
        "name": "Every private variable is defined; every variable, task file name and template renders",
        "ansible.builtin.set_fact": {
            "__matrix_report": "{{ __matrix_report | default({}) | combine({__matrix_role: {"
            "'ok': __matrix_missing | length == 0, "
            "'error': 'referenced but not defined for ' ~ ansible_facts['distribution'] ~ ' ' "
            "~ ansible_facts['distribution_major_version'] ~ ': ' ~ __matrix_missing | join(', '), "
            "'values': dict(__matrix_defined | zip(query('ansible.builtin.vars', *__matrix_defined))), "
            "'task_files': __matrix_task_files, "
            "'templates': dict(__matrix_templates"
            " | zip(query('ansible.builtin.template', *__matrix_template_paths))),"
            "}}) }}"
        },
        "vars": {
            "__matrix_missing": "{{ __matrix_refs | reject('in', __matrix_all) }}",
            "__matrix_defined": "{{ __matrix_names | select('in', __matrix_all) }}",
            "__matrix_all": "{{ query('ansible.builtin.varnames', '.+') }}",
            "__matrix_task_files": scan.task_file_exprs,
            "__matrix_templates": scan.templates,
            "__matrix_template_paths": [str(scan.path / "templates" / t) for t in scan.templates],
        },
    })
    failed_items = (
        "ansible_failed_result.results | default([]) | selectattr('failed', 'defined') | selectattr('failed')"
        " | map(attribute='msg') | list"
    )
    return {
        "name": f"Distro matrix: role {scan.name}",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [{
            "name": f"Role {scan.name} resolves and renders",
            "vars": {
                "__matrix_role": scan.name,
                "role_path": str(scan.path),
                "__matrix_refs": scan.private_refs,
                "__matrix_names": scan.names,
            },
            "block": steps,
            "rescue": [{
                "name": "The failure is recorded",
                "ansible.builtin.set_fact": {
                    "__matrix_report": "{{ __matrix_report | default({}) | combine({__matrix_role: {'ok': false, "
                    "'task': ansible_failed_task.name | default(''), 'error': __matrix_error}}) }}"
                },
                "vars": {
                    "__matrix_error": "{{ ([ansible_failed_result.msg | default('')] + "
                    f"{failed_items}) | join(' / ') }}}}"
                },
            }],
        }],
    }


@dataclass
class Matrix:
    """The outcome of one harness run: each fake host's report, by distro and role."""

    returncode: int
    output: str
    reports: dict[str, dict[str, Any]]

    def result(self, distro: str, role: str) -> dict[str, Any]:
        report = self.reports.get(distro, {}).get(role)
        if report is None:
            tail = "\n".join(self.output.splitlines()[-60:])
            raise AssertionError(
                f"no matrix result for {role} on {distro} (ansible-playbook rc={self.returncode}):\n{tail}"
            )
        return report

    def failures(self) -> dict[tuple[str, str], str]:
        return {
            (distro, role): report["error"]
            for distro, roles in self.reports.items()
            for role, report in roles.items()
            if not report["ok"]
        }


def _ansible_playbook() -> str:
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if not found:
        raise RuntimeError("ansible-playbook not found beside the Python running the tests nor on PATH")
    return found


@dataclass
class PendingMatrix:
    """A harness run in progress (runs are independent, so several can run at once)."""

    process: subprocess.Popen[bytes]
    work: Path

    def wait(self) -> Matrix:
        returncode = self.process.wait(timeout=600)
        report = self.work / "report.json"
        reports = json.loads(report.read_text()) if report.is_file() else {}
        return Matrix(returncode, (self.work / "output.log").read_text(), reports)


def run_matrix(roles_dir: Path, work: Path, **options: Any) -> Matrix:
    return start_matrix(roles_dir, work, **options).wait()


def start_matrix(
    roles_dir: Path,
    work: Path,
    *,
    roles: list[str] | None = None,
    hosts: dict[str, tuple[str, dict[str, Any]]] | None = None,
) -> PendingMatrix:
    """Start the matrix for the roles in ``roles_dir`` (all by default): one ansible-playbook run.

    ``hosts`` maps each fake host to its distro and its inventory variables (what a user would set); by default
    there is one host per supported distro, named after it, with none.
    """
    fixture = load_fixture()
    hosts = hosts or {distro: (distro, {}) for distro in fixture["distros"]}
    scans = [scan_role(roles_dir / name) for name in (roles or discover_roles(roles_dir))]
    report = work / "report.json"
    work.mkdir(parents=True, exist_ok=True)

    # Variable precedence as on a real run: role defaults (the `all` group here) < the inputs a user sets in the
    # inventory (a child group) < host variables (the variants of `hosts`) < vars/ files < set_fact.
    # vars/main.yml, above both in reality, is put in the host variables (no role shares a name with a user's).
    defaults: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    role_vars: dict[str, Any] = {}
    for scan in scans:
        defaults.update(_yaml(scan.path / "defaults" / "main.yml") or {})
        inputs.update(_yaml(ROLE_INPUTS_DIR / f"{scan.name}.yml") or {})
        role_vars.update(_yaml(scan.path / "vars" / "main.yml") or {})
    groups: dict[str, Any] = {group: {"hosts": dict.fromkeys(hosts)} for group in fixture.get("groups", [])}
    groups["matrix_inputs"] = {"hosts": dict.fromkeys(hosts), "vars": inputs}
    inventory = {"all": {
        "hosts": {name: {**role_vars, **host_vars} for name, (_, host_vars) in hosts.items()},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 **fixture.get("runtime_vars", {}), **defaults},
        "children": groups,
    }}
    plays: list[dict[str, Any]] = [
        {
            "name": f"Facts of {name}",
            "hosts": name,
            "gather_facts": False,
            "tasks": [{
                "name": "The distro's facts are set",
                "ansible.builtin.set_fact": {
                    **{f"ansible_{k}": v for k, v in host_facts(fixture, distro, name, index).items()},
                    "cacheable": True,
                },
            }],
        }
        for index, (name, (distro, _)) in enumerate(hosts.items())
    ]
    plays += [_role_play(scan) for scan in scans]
    plays.append({
        "name": "The report is written",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [{
            "name": "Every host's results are in one report",
            "ansible.builtin.copy": {
                "content": "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)"
                " | map(attribute='__matrix_report', default={}))) | to_nice_json }}",
                "dest": str(report),
                "mode": "0644",
            },
            "delegate_to": "localhost",
            "run_once": True,
        }],
    })
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    (work / "matrix.yml").write_text(yaml.safe_dump(plays, sort_keys=False, width=1000))
    (work / "ansible.cfg").write_text(
        "[defaults]\nforks = 8\nretry_files_enabled = False\ndisplay_ok_hosts = False\n"
        "display_skipped_hosts = False\ndeprecation_warnings = False\n"
    )
    command = [_ansible_playbook(), "-i", str(work / "inventory.yml"), str(work / "matrix.yml")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(work / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(work / "tmp"))
    with (work / "output.log").open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=work)
    return PendingMatrix(process, work)


# ------------------------------------------------------------------------------------------------ tests
ROLES = discover_roles(ROLES_DIR)


JAVA_VERSIONS = (8, 11, 17)


def break_roles(roles: Path) -> None:
    """Break copies of the roles on purpose, in the ways the matrix exists to catch."""
    # A vars file missing: the java role has no variables for Debian 12 any more.
    (roles / "java" / "vars" / "Debian-12.yml").unlink()
    # A variable missing from one family's vars file, and one referring to something undefined in the other's.
    redhat = roles / "httpd" / "vars" / "RedHat.yml"
    text = redhat.read_text()
    assert "\n__httpd_service:" in text
    kept = [line for line in text.splitlines(keepends=True) if not line.startswith("__httpd_service:")]
    redhat.write_text("".join(kept))
    debian = roles / "httpd" / "vars" / "Debian.yml"
    text = debian.read_text()
    assert "__httpd_log_dir: /var/log/apache2" in text
    debian.write_text(text.replace("__httpd_log_dir: /var/log/apache2", '__httpd_log_dir: "{{ __httpd_no_such_dir }}"'))
    # A template using a variable nothing defines.
    (roles / "common" / "templates" / "broken.conf.j2").write_text("value = {{ common_no_such_variable }}\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Matrix]:
    """The three harness runs, started together: every role on every distro; the java role with each
    java_version choice; and the harness on deliberately broken copies of common, java and httpd."""
    pending = {"main": start_matrix(ROLES_DIR, tmp_path_factory.mktemp("matrix"))}
    if "java" in ROLES:
        hosts = {f"{d}-java{v}": (d, {"java_version": v}) for d in REPRESENTATIVES for v in JAVA_VERSIONS}
        pending["java"] = start_matrix(ROLES_DIR, tmp_path_factory.mktemp("java"), roles=["java"], hosts=hosts)
    broken = tmp_path_factory.mktemp("broken")
    shutil.copytree(ROLES_DIR, broken / "roles")
    break_roles(broken / "roles")
    pending["broken"] = start_matrix(broken / "roles", broken / "work", roles=["common", "java", "httpd"],
                                     hosts={d: (d, {}) for d in REPRESENTATIVES})
    return {name: run.wait() for name, run in pending.items()}


@pytest.fixture(scope="module")
def matrix(runs: dict[str, Matrix]) -> Matrix:
    return runs["main"]


def test_fixture_has_every_supported_distro() -> None:
    fixture = load_fixture()
    assert list(fixture["distros"]) == SUPPORTED
    for distro in REDHAT_FAMILY:
        assert fixture["distros"][distro]["os_family"] == "RedHat", distro
    for distro in DEBIAN_FAMILY:
        assert fixture["distros"][distro]["os_family"] == "Debian", distro
    assert fixture["distros"]["rhel9"]["distribution"] == "RedHat"
    assert fixture["distros"]["amazon2023"]["distribution"] == "Amazon"


def test_the_harness_ran_cleanly(matrix: Matrix) -> None:
    # Failures inside a role are rescued and reported; anything else is a harness error.
    assert matrix.returncode == 0, matrix.output[-4000:]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("distro", SUPPORTED)
def test_role_resolves_and_renders(matrix: Matrix, distro: str, role: str) -> None:
    result = matrix.result(distro, role)
    assert result["ok"], f"{role} on {distro}: task {result['task']!r} failed: {result['error']}"
    scan = scan_role(ROLES_DIR / role)
    assert sorted(result["templates"]) == scan.templates
    for name in result["task_files"]:
        assert (ROLES_DIR / role / "tasks" / name).is_file(), f"{role} on {distro} includes missing tasks/{name}"


# What the original notes installed, per distro: Java 8 where it is packaged (Corretto 8 on Amazon Linux), 17 on
# Debian 12, which packages nothing else.
JAVA_DEFAULTS = {
    "rocky8": (8, ["java-1.8.0-openjdk-devel"]),
    "rocky9": (8, ["java-1.8.0-openjdk-devel"]),
    "rhel8": (8, ["java-1.8.0-openjdk-devel"]),
    "rhel9": (8, ["java-1.8.0-openjdk-devel"]),
    "amazon2023": (8, ["java-1.8.0-amazon-corretto-devel"]),
    "debian12": (17, ["openjdk-17-jdk-headless"]),
    "ubuntu2204": (8, ["openjdk-8-jdk-headless"]),
    "ubuntu2404": (8, ["openjdk-8-jdk-headless"]),
}


@pytest.mark.skipif("java" not in ROLES, reason="no java role")
@pytest.mark.parametrize("distro", SUPPORTED)
def test_java_defaults_reproduce_the_notes(matrix: Matrix, distro: str) -> None:
    values = matrix.result(distro, "java")["values"]
    assert (values["java_version"], values["java_packages"]) == JAVA_DEFAULTS[distro]


@pytest.fixture(scope="module")
def java_versions(runs: dict[str, Matrix]) -> Matrix:
    """The java role alone, with java_version set in the inventory to each choice (defaults: see above)."""
    return runs["java"]


@pytest.mark.skipif("java" not in ROLES, reason="no java role")
@pytest.mark.parametrize("version", JAVA_VERSIONS)
@pytest.mark.parametrize("distro", REPRESENTATIVES)
def test_java_version_is_selectable(java_versions: Matrix, distro: str, version: int) -> None:
    assert java_versions.returncode == 0, java_versions.output[-4000:]
    result = java_versions.result(f"{distro}-java{version}", "java")
    if distro == "debian12" and version != 17:
        # Debian 12 packages only 17: the role refuses with the versions it can install.
        assert not result["ok"]
        assert f"Java {version} is not packaged for Debian 12; set java_version to one of 17" in result["error"]
    else:
        assert result["ok"], f"java {version} on {distro}: {result['error']}"
        assert result["values"]["java_version"] == version
        [package] = result["values"]["java_packages"]
        assert re.search(rf"(^|-)(1\.)?{version}(\.0)?-", package), package


@pytest.mark.skipif("httpd" not in ROLES, reason="no httpd role")
@pytest.mark.parametrize("distro", SUPPORTED)
def test_httpd_names_and_site(matrix: Matrix, distro: str) -> None:
    result = matrix.result(distro, "httpd")
    values, site = result["values"], result["templates"]["chat-sentiment.conf.j2"]
    expected = "httpd" if distro in REDHAT_FAMILY else "apache2"
    assert values["__httpd_service"] == expected
    assert values["__httpd_packages"] == [expected]
    assert "<VirtualHost *:80>" in site
    assert f'DocumentRoot "{values["httpd_document_root"]}"' in site
    assert ("/var/log/httpd/" if distro in REDHAT_FAMILY else "/var/log/apache2/") in site
    assert f"Served by {distro}." in result["templates"]["index.html.j2"]


def test_harness_fails_on_a_broken_role(runs: dict[str, Matrix]) -> None:
    """On copies of the roles broken by break_roles(), the harness reports exactly those breakages."""
    result = runs["broken"]
    assert result.returncode == 0, result.output[-4000:]
    failures = result.failures()
    expected = {(d, "common") for d in REPRESENTATIVES} | {("debian12", "java")}
    expected |= {(d, "httpd") for d in REPRESENTATIVES}
    assert set(failures) == expected
    for distro in REPRESENTATIVES:
        assert "common_no_such_variable" in failures[distro, "common"]
        httpd_cause = "__httpd_service" if distro in REDHAT_FAMILY else "__httpd_no_such_dir"
        assert httpd_cause in failures[distro, "httpd"], failures[distro, "httpd"]
    assert "does not support Debian 12" in failures["debian12", "java"]
