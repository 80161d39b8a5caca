"""Reading docker-compose.yml as Docker Compose would: the YAML, `${NAME:-default}` interpolation
with values from an env file, and the start order implied by `depends_on`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"

# ${NAME}, ${NAME:-default}, ${NAME-default}; `$$` is a literal dollar for the container's shell.
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def load_compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines; comments and blank lines skipped."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a NAME=value line: {line!r}"
        values[name.strip()] = value.strip()
    return values


def variables_in(node: Any) -> set[str]:
    """Every `${NAME...}` the document refers to."""
    if isinstance(node, str):
        return {m.group(1) for m in _VARIABLE.finditer(node) if m.group(1)}
    if isinstance(node, Mapping):
        return set().union(*(variables_in(k) | variables_in(v) for k, v in node.items()))
    if isinstance(node, list):
        return set().union(*(variables_in(item) for item in node))
    return set()


def defaults_in(node: Any) -> dict[str, set[str]]:
    """The defaults written for each variable (`${NAME:-default}`), to check they agree."""
    found: dict[str, set[str]] = {}

    def visit(value: Any) -> None:
        if isinstance(value, str):
            for match in _VARIABLE.finditer(value):
                if match.group(1) and match.group(2):
                    found.setdefault(match.group(1), set()).add(match.group(3))
        elif isinstance(value, Mapping):
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(node)
    return found


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """The document with every variable replaced as Compose does (`$$` stays for the container)."""
    if isinstance(node, str):

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$$"
            name, operator, default = match.group(1), match.group(2), match.group(3)
            value = env.get(name)
            if operator == ":-" and not value:
                return default or ""
            if operator == "-" and value is None:
                return default or ""
            if value is None:
                raise KeyError(f"{name} is not set and has no default")
            return value

        return _VARIABLE.sub(substitute, node)
    if isinstance(node, Mapping):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    return node


def dependencies(service: Mapping[str, Any]) -> dict[str, str]:
    """`depends_on` as {service: condition} (the short list form means service_started)."""
    depends = service.get("depends_on", {})
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def start_order(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A start order honouring every `depends_on` (raises graphlib.CycleError on a cycle)."""
    graph = {name: set(dependencies(spec)) for name, spec in services.items()}
    return list(TopologicalSorter(graph).static_order())


def published_ports(service: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of every interpolated `ports` entry."""
    result: list[tuple[str, int, int]] = []
    for entry in service.get("ports", []):
        address, host_port, container_port = str(entry).rsplit(":", 2)
        result.append((address, int(host_port), int(container_port)))
    return result
