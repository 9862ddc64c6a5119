"""docs/cli.md, the configuration reference, is the one docs/gen_cli_reference.py generates from the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli_reference", ROOT / "docs" / "gen_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # defaults read from the environment are not shown
    monkeypatch.setenv("ES_URL", "http://127.0.0.1:9")
    gen = _generator()
    page = (ROOT / "docs" / "cli.md").read_text("utf-8")
    assert gen.replace_in(page, gen.reference()) == page, \
        "docs/cli.md is stale: run `python docs/gen_cli_reference.py --write`"


def test_reference_names_every_option_and_forwarder_variable():
    gen = _generator()
    text = gen.reference()
    for name, parser in gen.commands().items():
        assert f"#### `coldtrace {name}`" in text
        for action in parser._actions:
            if action.dest == "help" or action.help == "==SUPPRESS==":
                continue
            for option in action.option_strings:
                assert f"`{option}`" in text, option
    for variable in ("COLDTRACE_SHIPPER", "COLDTRACE_SAMPLE_RATE", "ES_URL", "ES_API_KEY", "KIBANA_URL"):
        assert f"`{variable}`" in text
