"""Kibana's rules for importing saved objects, from its source (``kibana/saved_objects.json``).

``ImportRules(target).check(objects, existing)`` does what the saved-objects import API does
with an NDJSON upload before writing anything, for the target release line (``8.x``, ``9.x``):

- a type Kibana does not know or cannot import → ``unsupported_type``;
- the same type and id twice → the whole import is refused (``Non-unique import objects``);
- a reference to an object neither in the upload nor already in Kibana → ``missing_references``;
- a ``typeMigrationVersion`` above the newest migration Kibana knows for the type, or a
  ``coreMigrationVersion`` above Kibana's own version → refused ("belongs to a more recent
  version of Kibana");
- attributes against the type's schema at the document's version (the highest schema version
  not above it, as Kibana's ``SavedObjectsTypeValidator`` picks; ``schema_for``) →
  ``[attributes.x]: ...``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("8.x", "9.x")


@cache
def spec() -> dict:
    return json.loads((HERE / "kibana" / "saved_objects.json").read_text())


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("-")[0].split("."))


def schema_errors(value, s, path: str) -> list[str]:
    """``value`` against a schema in the notation of saved_objects.json (config-schema's)."""
    if isinstance(s, str):
        ok = {"string": isinstance(value, str), "boolean": isinstance(value, bool), "any": True,
              "number": isinstance(value, (int, float)) and not isinstance(value, bool)}[s]
        return [] if ok else [f"[{path}]: expected value of type [{s}] but got [{type(value).__name__}]"]
    if "maybe" in s or "default" in s:
        return schema_errors(value, s.get("maybe", s.get("default")), path)
    if "nullable" in s:
        return [] if value is None else schema_errors(value, s["nullable"], path)
    if "literal" in s:
        return [] if value == s["literal"] else [f"[{path}]: expected value to equal [{s['literal']}]"]
    if "arrayOf" in s:
        if not isinstance(value, list):
            return [f"[{path}]: expected value of type [array] but got [{type(value).__name__}]"]
        return [e for n, v in enumerate(value) for e in schema_errors(v, s["arrayOf"], f"{path}.{n}")]
    if "recordOf" in s:
        if not isinstance(value, dict):
            return [f"[{path}]: expected value of type [object] but got [{type(value).__name__}]"]
        return [e for k, v in value.items() for e in schema_errors(v, s["recordOf"], f"{path}.{k}")]
    if "oneOf" in s:
        if any(not schema_errors(value, alt, path) for alt in s["oneOf"]):
            return []
        return [f"[{path}]: types that failed validation: none of {len(s['oneOf'])} alternatives matched"]
    if "object" in s:
        if not isinstance(value, dict):
            return [f"[{path}]: expected value of type [object] but got [{type(value).__name__}]"]
        props, out = s["object"], []
        for key, sub in props.items():
            optional = isinstance(sub, dict) and ("maybe" in sub or "default" in sub)
            if key not in value:
                if not optional:
                    out.append(f"[{path}.{key}]: expected value of type "
                               f"[{sub if isinstance(sub, str) else 'object'}] but got [undefined]")
                continue
            out += schema_errors(value[key], sub, f"{path}.{key}")
        if s.get("unknowns", "forbid") == "forbid":
            out += [f"[{path}.{key}]: definition for this key is missing" for key in value if key not in props]
        return out
    raise ValueError(f"unknown schema form {s}")


@dataclass
class ImportResult:
    fatal: str | None = None  # the whole upload refused (HTTP 400/422), as Kibana does
    errors: list[dict] = field(default_factory=list)  # per object, the import API's errors[]
    imported: list[dict] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.fatal is None and not self.errors


class ImportRules:
    def __init__(self, target: str) -> None:
        self.target = target
        t = spec()["targets"][target]
        self.kibana, self.types = t["kibana"], t["types"]

    def schema_for(self, obj: dict) -> str:
        """The schema an object's attributes are checked with: the highest schema version not
        above its ``typeMigrationVersion``; below every one, the lowest (Kibana 9.x validates a
        document of a legacy version at its default version; older releases skip it: the
        stricter reading is kept)."""
        versions = sorted(self.types[obj["type"]]["schemas"], key=version_key)
        version = version_key(obj.get("typeMigrationVersion") or "0.0.0")
        usable = [v for v in versions if version_key(v) <= version] or versions[:1]
        return self.types[obj["type"]]["schemas"][usable[-1]]

    def attribute_errors(self, obj: dict) -> list[str]:
        return schema_errors(obj.get("attributes"), spec()["schemas"][self.schema_for(obj)], "attributes")

    def version_error(self, obj: dict) -> str | None:
        latest = self.types[obj["type"]]["latest"]
        tmv, core = obj.get("typeMigrationVersion"), obj.get("coreMigrationVersion")
        if tmv and version_key(tmv) > version_key(latest):
            return (f'Document "{obj["id"]}" belongs to a more recent version of Kibana [{tmv}] when the last '
                    f"known version is [{latest}].")
        if core and version_key(core) > version_key(self.kibana):
            return f'Document "{obj["id"]}" has a coreMigrationVersion [{core}] newer than Kibana [{self.kibana}].'
        return None

    def check(self, objects: list, existing: set[tuple[str, str]] = frozenset()) -> ImportResult:
        out = ImportResult()
        for n, obj in enumerate(objects):
            if not (isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj["id"]
                    and isinstance(obj.get("type"), str) and isinstance(obj.get("attributes"), dict)):
                out.fatal = f"line {n + 1}: not a saved object (needs id, type and attributes)"
                return out
        keys = [(o["type"], o["id"]) for o in objects]
        dupes = sorted({f"{t}:{i}" for t, i in keys if keys.count((t, i)) > 1})
        if dupes:
            out.fatal = f"Non-unique import objects detected: [{','.join(dupes)}]"
            return out
        present = set(keys) | set(existing)
        for obj in objects:
            meta = {"id": obj["id"], "type": obj["type"], "meta": {"title": obj["attributes"].get("title")}}
            if obj["type"] not in self.types:
                out.errors.append({**meta, "error": {"type": "unsupported_type"}})
                continue
            refs = obj.get("references", [])
            bad_refs = [r for r in refs if not (isinstance(r, dict) and {"type", "id", "name"} <= set(r))]
            if not isinstance(refs, list) or bad_refs:
                out.errors.append({**meta, "error": {"type": "unknown", "statusCode": 400,
                                                     "message": f"malformed references: {bad_refs or refs}"}})
                continue
            missing = [{"type": r["type"], "id": r["id"]} for r in refs if (r["type"], r["id"]) not in present]
            if missing:
                out.errors.append({**meta, "error": {"type": "missing_references", "references": missing}})
                continue
            problem = self.version_error(obj)
            if problem is None:
                attr = self.attribute_errors(obj)
                problem = "; ".join(attr) if attr else None
            if problem:
                out.errors.append({**meta, "error": {"type": "unknown", "statusCode": 400, "message": problem}})
                continue
            out.imported.append(obj)
        return out
