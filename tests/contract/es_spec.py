"""Validates request bodies against the Elasticsearch API specification subsets kept here.

``SPECS`` are the versions checked (``elasticsearch/<branch>.json``, written by
``extract_es_spec.py``). ``Spec(branch).errors(value, "TypeName")`` lists where ``value``
breaks the type, as ``path: reason`` lines; empty means it conforms.

Where the spec is looser than Elasticsearch, the check follows Elasticsearch, and says so:

- index settings: the spec allows any key (``IndicesIndexSettings`` ends with
  ``[property: string]: any``); Elasticsearch refuses unknown settings, so here a setting
  must be one the spec names (settings outside the kept subset pass unexamined). Dotted
  keys (``index.lifecycle.name``) are read as the nested objects Elasticsearch makes of them.
- mapping properties: the union is tagged by ``type`` (``object`` when absent), as the
  spec's ``@variants internal tag='type' default='object'`` says.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPECS = tuple(sorted((p.stem for p in (HERE / "elasticsearch").glob("*.json")),
                     key=lambda v: tuple(int(x) for x in v.split("."))))

# The body of each request coldtrace sends, by the spec's request type.
BODIES = {"put_index_template": "IndicesPutIndexTemplateRequest", "put_component_template":
          "ClusterPutComponentTemplateRequest", "put_lifecycle": "IlmPutLifecycleRequest",
          "create_data_stream": "IndicesCreateDataStreamRequest", "create_index": "IndicesCreateRequest"}


@cache
def load(branch: str) -> Spec:
    return Spec(json.loads((HERE / "elasticsearch" / f"{branch}.json").read_text()))


class Spec:
    def __init__(self, data: dict) -> None:
        self.data = data
        self.types = data["types"]
        self.branch, self.commit = data["branch"], data["commit"]

    # -- public -------------------------------------------------------------------------
    def errors(self, value, type_name: str) -> list[str]:
        out: list[str] = []
        self._check(value, {"kind": "ref", "name": type_name}, {}, "$", out)
        return out

    def body_errors(self, request: str, body) -> list[str]:
        """Errors of ``body`` as the body of ``request`` (a key of ``BODIES``)."""
        req = self.types[BODIES[request]]["type"]
        body_type = req["props"].get("body")
        if body_type is None:
            return [] if body in (None, {}) else [f"$: {request} takes no body"]
        if body is None:
            return [f"$: {request} needs a body"] if body_type["required"] else []
        out: list[str] = []
        self._check(body, body_type["type"], {}, "$", out)
        return out

    def mapping_types(self) -> set[str]:
        """The ``type`` values a mapping property can have."""
        out = set()
        for member in self.types["MappingProperty"]["type"]["of"]:
            lit = self._tag(member["name"])
            if isinstance(lit, str) and not lit.startswith("{"):
                out.add(lit)
        return out

    # -- the checker ---------------------------------------------------------------------
    def _resolve(self, t: dict, env: dict) -> tuple[dict, dict]:
        """Follows references and generic parameters to a structural type."""
        while t["kind"] == "ref":
            if t["name"] in env:
                t, env = env[t["name"]]
                continue
            decl = self.types.get(t["name"])
            if decl is None:
                raise KeyError(f"type {t['name']} is not in the {self.branch} subset; re-run extract_es_spec.py")
            args = t.get("args", [])  # a parameter left out has its default: unknown, so anything
            args = args + [{"kind": "primitive", "name": "any"}] * (len(decl["params"]) - len(args))
            env = {**env, **{p: (a, env) for p, a in zip(decl["params"], args)}}
            t = decl["type"]
        return t, env

    def _props(self, t: dict, env: dict) -> tuple[dict, dict | None]:
        """All properties of an object type (with those it extends) and its index signature."""
        props = {name: (p, env) for name, p in t.get("props", {}).items()}
        extra = (t["additional"], env) if "additional" in t else None
        for base in t.get("extends", []):
            bt, benv = self._resolve(base, env)
            bprops, bextra = self._props(bt, benv)
            props = {**bprops, **props}
            extra = extra or bextra
        return props, extra

    def _tag(self, name: str):
        t, _ = self._resolve({"kind": "ref", "name": name}, {})
        props, _ = self._props(t, {})
        tag = props.get("type")
        return tag[0]["type"].get("value") if tag else None

    def _check(self, value, t: dict, env: dict, path: str, out: list[str]) -> None:
        t, env = self._resolve(t, env)
        kind = t["kind"]
        if kind == "opaque":
            return
        if kind == "primitive":
            ok = {"any": True, "string": isinstance(value, str), "boolean": isinstance(value, bool),
                  "number": isinstance(value, (int, float)) and not isinstance(value, bool),
                  "null": value is None, "undefined": False, "never": False}[t["name"]]
            if not ok:
                out.append(f"{path}: expected {t['name']}, got {json.dumps(value)[:60]}")
        elif kind == "literal":
            if value != t["value"] or isinstance(value, bool) != isinstance(t["value"], bool):
                out.append(f"{path}: expected {json.dumps(t['value'])}, got {json.dumps(value)[:60]}")
        elif kind in ("array", "tuple"):
            if not isinstance(value, list):
                out.append(f"{path}: expected an array, got {json.dumps(value)[:60]}")
                return
            for n, item in enumerate(value):
                self._check(item, t["of"] if kind == "array" else t["of"][min(n, len(t["of"]) - 1)], env,
                            f"{path}[{n}]", out)
        elif kind == "dict":
            if not isinstance(value, dict):
                out.append(f"{path}: expected an object, got {json.dumps(value)[:60]}")
                return
            for k, v in value.items():
                self._check(v, t["value"], env, f"{path}.{k}", out)
        elif kind == "partial":
            self._check(value, t["of"], env, path, out)  # optional keys: a present one must still fit
        elif kind == "union":
            self._check_union(value, t, env, path, out)
        elif kind == "intersection":
            self._check_intersection(value, t, env, path, out)
        elif kind == "object":
            self._check_object(value, *self._props(t, env), path, out)
        else:
            raise ValueError(f"unknown type kind {kind}")

    def _check_object(self, value, props: dict, extra, path: str, out: list[str]) -> None:
        if not isinstance(value, dict):
            out.append(f"{path}: expected an object, got {json.dumps(value)[:60]}")
            return
        for name, (p, _) in props.items():
            if p["required"] and name not in value:
                out.append(f"{path}: missing required {name}")
        for key, v in value.items():
            if key in props:
                p, penv = props[key]
                self._check(v, p["type"], penv, f"{path}.{key}", out)
            elif "." in key and key.split(".", 1)[0] in props:  # settings: a.b.c == {a: {b.c}}
                head, rest = key.split(".", 1)
                p, penv = props[head]
                self._check({rest: v}, p["type"], penv, f"{path}.{head}", out)
            elif extra is not None:
                self._check(v, extra[0], extra[1], f"{path}.{key}", out)
            else:
                out.append(f"{path}: unknown property {key!r}")

    def _check_intersection(self, value, t: dict, env: dict, path: str, out: list[str]) -> None:
        props, extra = {}, None
        for member in t["of"]:
            mt, menv = self._resolve(member, env)
            if mt["kind"] != "object":
                self._check(value, mt, menv, path, out)
                continue
            mprops, mextra = self._props(mt, menv)
            props.update(mprops)
            if mextra is not None and not mprops:  # ``& { [property: string]: any }``: see the docstring
                continue
            extra = extra or mextra
        self._check_object(value, props, extra, path, out)

    def _check_union(self, value, t: dict, env: dict, path: str, out: list[str]) -> None:
        members = t["of"]
        if isinstance(value, dict) and all(m["kind"] == "ref" and m["name"].startswith("Mapping")
                                           and m["name"].endswith("Property") for m in members):
            tag = value.get("type", "object")
            match = [m for m in members if self._tag(m["name"]) == tag]
            if not match:
                out.append(f"{path}: unknown field type {tag!r}")
                return
            self._check(value, match[0], env, path, out)
            return
        best: list[str] | None = None
        for m in members:
            errs: list[str] = []
            self._check(value, m, env, path, errs)
            if not errs:
                return
            if best is None or len(errs) < len(best):
                best = errs
        literals = [self._resolve(m, env)[0] for m in members]
        if all(x["kind"] == "literal" for x in literals):
            out.append(f"{path}: expected one of {', '.join(json.dumps(x['value']) for x in literals)}, "
                       f"got {json.dumps(value)[:60]}")
        else:
            out.extend(best or [f"{path}: matches no member of the union"])
