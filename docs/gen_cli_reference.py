"""Writes the configuration reference — every `coldtrace` option and every environment variable —
from the code itself, so it cannot drift: the argparse parsers of `pipeline/cli.py`, the
`os.environ` reads of the commands, and the variables `forwarder/settings.py` reads.

    python docs/gen_cli_reference.py            # print the reference (Markdown)
    python docs/gen_cli_reference.py --write    # replace it in docs/cli.md, between the markers

A test fails when docs/cli.md's copy differs from what this prints.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's own packages first

import forwarder.settings  # noqa: E402
from pipeline.cli import COMMANDS, build_parser  # noqa: E402

START, END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}` (positional)"
    names = ", ".join(f"`{o}`" for o in action.option_strings)
    if action.nargs == 0:
        return names
    meta = action.metavar or (("{" + ",".join(action.choices) + "}") if action.choices else action.dest.upper())
    return f"{names} `{meta}`"


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS, [], ""):
        return ""
    return f"`{action.default}`"


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(" in text:
        text = text % {**vars(action), "prog": "coldtrace"}
    return text


ENV_READ = re.compile(r'os\.environ\.get\("([A-Z_][A-Z0-9_]*)"\)')


def _env_read_by_commands() -> list[str]:
    return sorted({v for path in (ROOT / "pipeline" / "commands").glob("*.py")
                   for v in ENV_READ.findall(path.read_text("utf-8"))})


def commands(marked: bool = False) -> dict[str, argparse.ArgumentParser]:
    """The subcommand parsers, built with every variable the commands read unset (so defaults do
    not depend on the shell that runs this), or set to a ``<NAME>`` marker (``marked``)."""
    found = _env_read_by_commands()
    saved = {v: os.environ.pop(v, None) for v in found}
    if marked:
        os.environ.update({v: f"<{v}>" for v in found})
    try:
        parser = build_parser()
    finally:
        for v, old in saved.items():
            os.environ.pop(v, None)
            if old is not None:
                os.environ[v] = old
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def command_reference() -> list[str]:
    out: list[str] = []
    for name, p in commands().items():
        help_line = COMMANDS[name][1]
        out += [f"#### `coldtrace {name}`", "", help_line[0].upper() + help_line[1:] + ".", "",
                "| option | default | meaning |", "|---|---|---|"]
        for action in p._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            out.append(f"| {_flags(action)} | {_cell(_default(action))} | {_cell(_help(action))} |")
        out.append("")
    return out


def cli_environment() -> list[tuple[str, str, str]]:
    """(variable, read by, meaning) for the commands: variables named by ``*-env`` options, and
    variables that give an option its default (found by building the parsers with a marker
    value in each variable the command modules read)."""
    found = set(_env_read_by_commands())
    parsers = commands(marked=True)
    users: dict[str, list[str]] = {}
    meaning: dict[str, str] = {}
    for name, p in parsers.items():
        for action in p._actions:
            if action.dest.endswith("_env") and isinstance(action.default, str):
                users.setdefault(action.default, []).append(name)
                meaning.setdefault(action.default,
                                   f"{_help(action)} (name another with `{action.option_strings[0]}`)")
            elif isinstance(action.default, str) and action.default[1:-1] in found and action.default.startswith("<"):
                var = action.default[1:-1]
                users.setdefault(var, []).append(name)
                meaning[var] = f"default of `{action.option_strings[0]}`"
    return [(var, ", ".join(users[var]), meaning[var]) for var in sorted(users)]


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _kind(module, call: ast.Call) -> str:
    """What a ``_Reader`` call accepts, in words, with the bounds evaluated."""
    def value(node: ast.AST):
        return eval(compile(ast.Expression(node), "<settings>", "eval"), vars(module))  # our own source

    kw = {k.arg: value(k.value) for k in call.keywords}
    kind = call.func.attr
    if kind == "choice":
        return "one of " + ", ".join(value(call.args[1]))
    if kind == "match":
        return f"matches `{value(call.args[1])}`"
    if kind == "number":
        return f"number from {_num(kw['low'])} to {_num(kw['high'])}"
    if kind == "flag":
        return "true or false"
    if kind == "names":
        return "all, none, or a comma list of: " + ", ".join(value(call.args[1]))
    return {"regex": "regular expression", "patterns": 'JSON {"name": "regex", …}',
            "secret_ref": "ssm:/name or secretsmanager:id", "text": "text"}.get(kind, kind)


def forwarder_environment() -> list[tuple[str, str, str, str]]:
    """(variable, accepted values, default, Settings field) of every variable Settings.from_env reads."""
    module = forwarder.settings
    tree = ast.parse((ROOT / "forwarder" / "settings.py").read_text("utf-8"))
    from_env = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "from_env")
    defaults = {f.name: f.default for f in dataclasses.fields(module.Settings)}
    field_of: dict[int, str] = {}
    for kw in (k for n in ast.walk(from_env) if isinstance(n, ast.Call) for k in n.keywords):
        for inner in ast.walk(kw.value):
            field_of.setdefault(id(inner), kw.arg or "")
    calls = [n for n in ast.walk(from_env)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
             and n.func.value.id == "r" and n.args and isinstance(n.args[0], ast.Constant)]
    rows = []
    for node in sorted(calls, key=lambda n: (n.lineno, n.col_offset)):
        field = field_of.get(id(node)) or ("shipper" if node.args[0].value == "COLDTRACE_SHIPPER" else "")
        default = defaults.get(field)
        shown = "" if default in (None, (), dataclasses.MISSING) else f"`{default}`"
        rows.append((node.args[0].value, _kind(module, node), shown, field))
    return rows


def reference() -> str:
    lines = ["### Commands and options", "",
             "Generated by `python docs/gen_cli_reference.py` from the argparse parsers (`coldtrace COMMAND "
             "--help` says the same).", ""]
    lines += command_reference()
    lines += ["### Environment variables", "", "Read by the `coldtrace` commands (AWS clients also read the "
              "standard `AWS_*` variables and profiles of boto3's credential chain):", "",
              "| variable | read by | meaning |", "|---|---|---|"]
    lines += [f"| `{v}` | {_cell(u)} | {_cell(m)} |" for v, u, m in cli_environment()]
    lines += ["", "Read once by the forwarder Lambda (`forwarder/settings.py`; a bad value stops the first "
              "invocation with an error naming the variable):", "",
              "| variable | accepts | default | setting |", "|---|---|---|---|"]
    lines += [f"| `{v}` | {_cell(k)} | {_cell(d)} | `{f}` |" for v, k, d, f in forwarder_environment()]
    return "\n".join(lines) + "\n"


def replace_in(readme: str, text: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"docs/cli.md has no {START} … {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{text}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the reference in docs/cli.md")
    args = ap.parse_args(argv)
    text = reference()
    if args.write:
        path = ROOT / "docs" / "cli.md"
        path.write_text(replace_in(path.read_text("utf-8"), text), "utf-8")
        print(f"reference written into {path}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
