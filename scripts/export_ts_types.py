"""Write the TypeScript client's types (`clients/typescript/src/types.ts`) from
`contract/openapi.json`, so the client's shapes are the API's shapes and cannot drift by hand.

A test fails when the file is out of date:

    uv run python -m scripts.export_ts_types

Only the JSON Schema that pydantic emits is handled (objects, arrays, `anyOf`/`oneOf`, `$ref`,
`enum`, `const`, scalars); anything else becomes `unknown` rather than a wrong type.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "contract" / "openapi.json"
TYPES = ROOT / "clients" / "typescript" / "src" / "types.ts"

_SCALARS = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}
_HEADER = (
    "// Generated from contract/openapi.json by `uv run python -m scripts.export_ts_types`.\n"
    "// Do not edit: a test fails when this file is stale.\n"
)


def ts_type(schema: dict[str, Any]) -> str:
    """The TypeScript type of one JSON Schema."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return " | ".join(dict.fromkeys(ts_type(option) for option in schema[union]))
    kind = schema.get("type")
    if kind == "null":
        return "null"
    if kind == "array":
        item = ts_type(schema.get("items", {}))
        return f"Array<{item}>"
    if kind == "object":
        if "properties" in schema:
            return _object(schema, indent="  ")
        extra = schema.get("additionalProperties")
        value = ts_type(extra) if isinstance(extra, dict) else "unknown"
        return f"Record<string, {value}>"
    return _SCALARS.get(str(kind), "unknown")


def _object(schema: dict[str, Any], *, indent: str) -> str:
    required = set(schema.get("required", []))
    lines = ["{"]
    for name, prop in sorted(schema.get("properties", {}).items()):
        optional = "" if name in required else "?"
        lines.append(f"{indent}{name}{optional}: {ts_type(prop)};")
    lines.append(indent[:-2] + "}")
    return "\n".join(lines)


def _doc(schema: dict[str, Any]) -> str:
    text = str(schema.get("description", "")).strip()
    if not text:
        return ""
    body = "\n".join(f" * {line}".rstrip() for line in text.splitlines())
    return f"/**\n{body}\n */\n"


def rendered() -> str:
    """The exact text of `types.ts` for the current OpenAPI document."""
    schemas: dict[str, dict[str, Any]] = json.loads(OPENAPI.read_text())["components"]["schemas"]
    parts = [_HEADER]
    for name, schema in sorted(schemas.items()):
        if schema.get("type") == "object" and "properties" in schema:
            parts.append(f"{_doc(schema)}export interface {name} {_object(schema, indent='  ')}\n")
        else:
            parts.append(f"{_doc(schema)}export type {name} = {ts_type(schema)};\n")
    return "\n".join(parts)


def main() -> int:
    TYPES.parent.mkdir(parents=True, exist_ok=True)
    TYPES.write_text(rendered())
    print(f"wrote {TYPES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
