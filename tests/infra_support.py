"""Reading the CloudFormation templates in tests: cfn-lint's decoder (it understands !Ref, !Sub,
!GetAtt …) and a small resolver of intrinsic functions against deployed resources."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from cfnlint.decode import decode

INFRA = Path(__file__).resolve().parent.parent / "infra"
TEMPLATES = sorted(INFRA.glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    template, matches = decode(str(path))
    assert not matches, f"{path.name} does not parse: {matches}"
    return template


class Resolver:
    """Evaluates Ref / Fn::GetAtt / Fn::Sub / Fn::If / Fn::Equals / Fn::Not over known values."""

    def __init__(self, template: dict[str, Any], refs: dict[str, Any], attrs: dict[str, Any]) -> None:
        self.template, self.refs, self.attrs = template, refs, attrs
        self.conditions: dict[str, bool] = {}
        for name, cond in (template.get("Conditions") or {}).items():
            self.conditions[name] = bool(self(cond))

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            out = [self(n) for n in node]
            return [n for n in out if n is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            fn = _FUNCTIONS.get(key)
            if fn is not None:
                return fn(self, arg)
        out = {k: self(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        return self.refs[name]

    def sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self(v) for k, v in arg[1].items()})

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in extra:
                return str(extra[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.attrs[name])
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", one, text)


_NO_VALUE = object()
_FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": lambda r, a: r.ref(a),
    "Fn::GetAtt": lambda r, a: r.attrs[".".join(a) if isinstance(a, list) else a],
    "Fn::Sub": lambda r, a: r.sub(a),
    "Fn::If": lambda r, a: r(a[1]) if r.conditions[a[0]] else r(a[2]),
    "Fn::Equals": lambda r, a: r(a[0]) == r(a[1]),
    "Fn::Not": lambda r, a: not r(a[0]),
}


def parameter_defaults(template: dict[str, Any], **given: Any) -> dict[str, Any]:
    out = {name: p.get("Default") for name, p in (template.get("Parameters") or {}).items()}
    out.update(given)
    return out
