"""Extracts the part of the Elasticsearch API specification that coldtrace's requests touch.

Source: https://github.com/elastic/elasticsearch-specification, file
``output/typescript/types.ts`` of a release branch (every request and body type of the REST
API, flattened into one TypeScript file generated from the spec). This script parses the
small TypeScript subset that file uses (interfaces, type aliases, unions, intersections,
literals, arrays, ``Record``/``Partial``, generics) and keeps only the types reachable from
the requests coldtrace sends, writing them as JSON next to this file:

    git clone https://github.com/elastic/elasticsearch-specification spec
    python tests/contract/extract_es_spec.py spec 8.19     # -> tests/contract/elasticsearch/8.19.json
    python tests/contract/extract_es_spec.py spec 9.4

The JSON records the branch and commit it came from. Types coldtrace never sends (scripts,
queries, analyzers, ...) are cut to ``opaque`` so the subset stays small: a value there is
accepted without looking, and ``OPAQUE`` below lists them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = "https://github.com/elastic/elasticsearch-specification"
TYPES_TS = "output/typescript/types.ts"

# What coldtrace sends (pipeline/sinks/es_setup.py, es_bulk.py) and the mapping types.
ROOTS = [
    "IndicesPutIndexTemplateRequest", "ClusterPutComponentTemplateRequest", "IlmPutLifecycleRequest",
    "IndicesCreateDataStreamRequest", "IndicesCreateRequest", "BulkOperationContainer", "MappingProperty",
]
# Reachable from the roots but never part of what coldtrace sends.
OPAQUE = {
    "Script", "ScriptSource", "QueryDslQueryContainer", "MappingRuntimeField", "MappingRuntimeFields",
    "IndicesIndexSettingsAnalysis", "IndicesSettingsSimilarity", "IndicesAlias", "AggregationsAggregationContainer",
    "SearchHighlight", "IndicesIndexSegmentSort", "IndicesMerge", "IndicesSettingsSearch", "IndicesTranslog",
    "IndicesIndexingSlowlogSettings", "IndicesStorage", "IndicesIndexRouting", "IndicesMappingLimitSettings",
    "IndicesIndexingPressure", "IndicesQueries", "IndicesIndexSettingBlocks", "IndicesSettingsAnalyze",
    "IndicesSettingsHighlight", "IndicesIndexSettingsTimeSeries", "IndicesIndexVersioning", "IndicesSoftDeletes",
    "IndicesSettingsQueryString", "IndicesIndexSettingsUnassigned", "IndicesIndexSettingsLifecycleStep",
    "IlmAllocateAction", "IlmDownsampleAction", "IlmMigrateAction", "IlmSearchableSnapshotAction",
    "IlmShrinkAction", "IlmForceMergeAction", "MappingChunkingSettings", "MappingSemanticTextIndexOptions",
    "MappingDenseVectorIndexOptions", "MappingSparseVectorIndexOptions", "InferenceInferenceChunkingSettings",
    "MappingTextIndexPrefixes", "MappingSuggestContext", "MappingFielddataFrequencyFilter",
    "IndicesNumericFielddata", "IndicesDataStreamOptionsTemplate", "IndicesDownsamplingRound",
    "IndicesDataStreamLifecycleDownsampling", "IndicesSamplingConfiguration",
}

_TOKEN = re.compile(r"\s*(?:(//[^\n]*|/\*.*?\*/)|('(?:[^'\\]|\\.)*')|(-?\d+(?:\.\d+)?)|([A-Za-z_$][\w$]*)|(\S))",
                    re.DOTALL)


def tokenize(text: str) -> list[str]:
    out = []
    for m in _TOKEN.finditer(text):
        if m.group(1):
            continue
        tok = next(g for g in m.groups()[1:] if g is not None)
        out.append(tok)
    return out


PRIMITIVES = {"string", "number", "boolean", "null", "any", "unknown", "undefined", "object", "never"}


class Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.t, self.i = tokens, 0

    def peek(self, k: int = 0) -> str | None:
        return self.t[self.i + k] if self.i + k < len(self.t) else None

    def take(self, want: str | None = None) -> str:
        tok = self.t[self.i]
        if want is not None and tok != want:
            near = " ".join(self.t[max(0, self.i - 8):self.i + 8])
            raise SyntaxError(f"expected {want!r}, got {tok!r} at token {self.i}: {near}")
        self.i += 1
        return tok

    def declarations(self) -> dict[str, dict]:
        decls = {}
        while self.peek() is not None:
            self.take("export")
            kind = self.take()
            name = self.take()
            params = self.generic_params()
            if kind == "interface":
                extends = []
                if self.peek() == "extends":
                    self.take()
                    extends.append(self.type_expr())
                    while self.peek() == ",":
                        self.take()
                        extends.append(self.type_expr())
                body = self.object_body()
                decls[name] = {"params": params, "type": {**body, "extends": extends}}
            elif kind == "type":
                self.take("=")
                decls[name] = {"params": params, "type": self.type_expr()}
            else:
                raise SyntaxError(f"unsupported declaration {kind} {name}")
        return decls

    def generic_params(self) -> list[str]:
        params = []
        if self.peek() == "<":
            self.take()
            while self.peek() != ">":
                params.append(self.take())
                if self.peek() == "=":  # a default: skipped
                    self.take()
                    self.type_expr()
                if self.peek() == ",":
                    self.take()
            self.take(">")
        return params

    def object_body(self) -> dict:
        self.take("{")
        props, extra = {}, None
        while self.peek() != "}":
            if self.peek() == "[":  # [key: string]: T
                self.take()
                self.take()
                self.take(":")
                self.type_expr()
                self.take("]")
                self.take(":")
                extra = self.type_expr()
            else:
                name = self.take().strip("'")
                optional = self.peek() == "?"
                if optional:
                    self.take()
                self.take(":")
                props[name] = {"type": self.type_expr(), "required": not optional}
            if self.peek() in (";", ","):
                self.take()
        self.take("}")
        out = {"kind": "object", "props": props}
        if extra is not None:
            out["additional"] = extra
        return out

    def type_expr(self) -> dict:
        if self.peek() == "|":
            self.take()
        members = [self.intersection()]
        while self.peek() == "|":
            self.take()
            members.append(self.intersection())
        return members[0] if len(members) == 1 else {"kind": "union", "of": members}

    def intersection(self) -> dict:
        members = [self.postfix()]
        while self.peek() == "&":
            self.take()
            members.append(self.postfix())
        return members[0] if len(members) == 1 else {"kind": "intersection", "of": members}

    def postfix(self) -> dict:
        t = self.primary()
        while self.peek() == "[" and self.peek(1) == "]":
            self.take()
            self.take()
            t = {"kind": "array", "of": t}
        return t

    def primary(self) -> dict:
        tok = self.peek()
        if tok == "(":
            self.take()
            t = self.type_expr()
            self.take(")")
            return t
        if tok == "{":
            return self.object_body()
        if tok == "[":  # tuple
            self.take()
            items = []
            while self.peek() != "]":
                items.append(self.type_expr())
                if self.peek() == ",":
                    self.take()
            self.take("]")
            return {"kind": "tuple", "of": items}
        self.take()
        if tok.startswith("'"):
            return {"kind": "literal", "value": tok[1:-1]}
        if re.fullmatch(r"-?\d+(\.\d+)?", tok):
            return {"kind": "literal", "value": float(tok) if "." in tok else int(tok)}
        if tok in ("true", "false"):
            return {"kind": "literal", "value": tok == "true"}
        if tok in PRIMITIVES:
            return {"kind": "primitive", "name": "any" if tok in ("unknown", "object") else tok}
        args = []
        if self.peek() == "<":
            self.take()
            while self.peek() != ">":
                args.append(self.type_expr())
                if self.peek() == ",":
                    self.take()
            self.take(">")
        if tok == "Record":
            return {"kind": "dict", "key": args[0], "value": args[1]}
        if tok == "Partial":
            return {"kind": "partial", "of": args[0]}
        return {"kind": "ref", "name": tok, "args": args} if args else {"kind": "ref", "name": tok}


def refs(t, out: set[str]) -> None:
    if isinstance(t, dict):
        if t.get("kind") == "ref":
            out.add(t["name"])
        for v in t.values():
            refs(v, out)
    elif isinstance(t, list):
        for v in t:
            refs(v, out)


def closure(decls: dict[str, dict], roots: list[str]) -> dict[str, dict]:
    keep, todo = {}, list(roots)
    while todo:
        name = todo.pop()
        if name in keep or name not in decls:  # generic parameters are refs too
            continue
        if name in OPAQUE:
            keep[name] = {"params": [], "type": {"kind": "opaque"}}
            continue
        keep[name] = decls[name]
        found: set[str] = set()
        refs(decls[name]["type"], found)
        todo.extend(sorted(found - set(decls[name]["params"])))
    return dict(sorted(keep.items()))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: extract_es_spec.py SPEC_CHECKOUT BRANCH   (e.g. ./elasticsearch-specification 9.4)",
              file=sys.stderr)
        return 2
    checkout, branch = argv
    text = subprocess.run(["git", "-C", checkout, "show", f"{branch}:{TYPES_TS}"], check=True,
                          capture_output=True, text=True).stdout
    commit = subprocess.run(["git", "-C", checkout, "rev-parse", branch], check=True, capture_output=True,
                            text=True).stdout.strip()
    decls = Parser(tokenize(text)).declarations()
    subset = {"source": SOURCE, "branch": branch, "commit": commit, "file": TYPES_TS,
              "regenerate": f"python tests/contract/extract_es_spec.py SPEC_CHECKOUT {branch}",
              "roots": ROOTS, "opaque": sorted(OPAQUE & set(decls)), "types": closure(decls, ROOTS)}
    out = HERE / "elasticsearch" / f"{branch}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(subset, indent=0, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {out.relative_to(HERE.parents[1])}: {len(subset['types'])} of {len(decls)} types "
          f"from {branch} {commit[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
