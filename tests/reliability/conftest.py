"""The fault-injection suite prints its table at the end of the session (and writes it to a file:
``$COLDTRACE_FAULT_TABLE`` or ``.pytest_cache/reliability/fault-table.md``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.sources.simulate import simulate, write_fleet
from tests.reliability.support import FLEET, ROWS, table, table_path


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not ROWS:
        return
    text = table(ROWS)
    path = table_path(Path(str(config.rootpath)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# coldtrace fault-injection suite\n\n" + text + "\n")
        where = f" (written to {path})"
    except OSError as exc:
        where = f" (not written: {exc})"
    terminalreporter.section("fault injection: nothing lost, nothing twice" + where)
    for line in text.splitlines():
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def fleet_payloads():
    """The suite's simulated fleet in memory: (payloads, truth)."""
    return simulate(FLEET)


@pytest.fixture(scope="session")
def fleet_files(tmp_path_factory):
    """The same fleet as payload files: (directory, truth)."""
    out = tmp_path_factory.mktemp("reliability-fleet")
    return out, write_fleet(out, FLEET)
