"""The CLI imports a command's module only when that command runs (docs/benchmarks.md, "CLI start-up
and import costs"): `coldtrace --help` lists every command without importing one, and a command's
own parser imports that command alone. Checked in a fresh interpreter, as a user starts it."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

from pipeline.cli import COMMANDS, command_named

ROOT = Path(__file__).resolve().parents[2]


def _loaded_after(argv: list[str]) -> tuple[str, set[str]]:
    code = ("import sys\nfrom pipeline.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('LOADED', ' '.join(sorted(sys.modules)))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    head, _, loaded = done.stdout.rpartition("LOADED ")
    return head, set(loaded.split())


def test_help_lists_every_command_and_imports_none():
    shown, loaded = _loaded_after(["--help"])
    for name, (_module, help_line) in COMMANDS.items():
        assert name in shown
        assert help_line.split()[0] in shown
    assert not {m for m in loaded if m.startswith("pipeline.commands.")}
    assert "apache_beam" not in loaded and "elasticsearch" not in loaded


def test_a_command_imports_its_own_module_only():
    shown, loaded = _loaded_after(["advise", "--help"])
    assert "--from" in shown
    commands = {m for m in loaded if m.startswith("pipeline.commands.")}
    assert commands == {"pipeline.commands.advise"}
    assert "apache_beam" not in loaded


def test_the_command_is_the_first_word_that_is_not_an_option():
    assert command_named(["--verbose", "run", "--input", "x"]) == "run"
    assert command_named(["es-load", "out"]) == "es-load"
    assert command_named(["--help"]) is None
    assert command_named(["nosuch", "run"]) is None  # argparse then names the unknown command


def test_every_command_module_offers_arguments_and_main_and_leaves_its_help_line_to_the_cli():
    for name, (module_name, help_line) in COMMANDS.items():
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments) and callable(module.main), name
        assert not hasattr(module, "HELP"), f"{module_name}: the help line has one home, pipeline/cli.py"
        assert help_line and not help_line.endswith("."), name
