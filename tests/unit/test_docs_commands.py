"""Every command shown in README.md and docs/*.md that needs no cloud runs, as written, in a
temporary directory: exit 0, no traceback. Also: every relative link resolves, and the README
stays a landing page (under 12 KB).

Which commands are run: the lines of ```bash blocks that call ``coldtrace``. A command is skipped
when it needs something a test machine does not have — named in NEEDS below (AWS, Elasticsearch,
Kibana, an OTLP collector, the network) — or is the install or the test suite itself. To keep the
test quick, a simulated run gets ``--events 2000`` (the fleet's size; nothing else changes) and
``simulate --events`` is capped the same way. Paths the docs use as "your own logs" are made from a
simulated fleet first (USER_FILES).
"""

from __future__ import annotations

import gzip
import re
import shlex
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.sources.simulate import config_for_events, write_fleet

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SMALL, INCIDENTS = "2000", "8000"

# what a command needs that a test machine does not have → the text that shows it
NEEDS = {
    "AWS": ("kinesis://", "s3://", "cloudwatch://", "--log-group", "--sqs-url", "--sns-topic-arn",
            "--region", "--poll-metrics", "sam ", "aws "),
    "Elasticsearch": ("--es-url", "es.example", "ES_URL"),
    "Kibana": ("--kibana-url",),
    "a webhook receiver": ("--webhook-url-env",),
    "an OTLP collector": ("--otlp-endpoint http",),
    "the network (downloads wheels)": ("forwarder-build",),
    "a Flink or Dataflow cluster": ("FlinkRunner", "DataflowRunner"),
    "a dask scheduler of your own": ("--dask-address",),
}
# "your own logs" in the docs' examples: made from a simulated fleet
USER_FILES = {
    "logs": "payloads-{n}.ndjson.gz",
    "big": "payloads-{n}.ndjson",
    "exports/2024": "payloads-{n}.ndjson.gz",
}
# a CloudWatch metric file in the shape docs/alarms.md gives (--metrics-input)
METRIC_POINT = ('{"function_name": "orders-api", "window_start_ms": 1714557600000, "window_end_ms": 1714557660000, '
                '"source": "cloudwatch", "values": {"throttles": 3}}\n')


def _documented_rules() -> str:
    """The rules file docs/alarms.md shows (its first yaml block): the run reads it as --rules."""
    text = (ROOT / "docs" / "alarms.md").read_text("utf-8")
    return text.split("```yaml\n", 1)[1].split("```", 1)[0]


def _commands(page: Path) -> list[str]:
    out, in_block, pending = [], False, ""
    for line in page.read_text("utf-8").splitlines():
        if line.startswith("```"):
            in_block = line.strip() in ("```bash", "```sh", "```shell")
            continue
        if not in_block:
            continue
        line = pending + line
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        words = shlex.split(line, comments=True)
        if words and Path(words[0]).name == "coldtrace":
            out.append(shlex.join(words))
    return out


def _skip_reason(command: str) -> str | None:
    for need, marks in NEEDS.items():
        if any(mark in command for mark in marks):
            return need
    return None


ALL = [(page.relative_to(ROOT).as_posix(), cmd) for page in PAGES for cmd in _commands(page)]
RUN = list({cmd: (where, cmd) for where, cmd in reversed(ALL) if _skip_reason(cmd) is None}.values())[::-1]


def _small(words: list[str]) -> list[str]:
    if words[:1] == ["run"] and "--input" not in words and "--events" not in words and "--help" not in words:
        # incidents name minutes 3-7 of the fleet: 8,000 events simulate 9 minutes (2,000: 2)
        return [*words, "--events", INCIDENTS if "--incident" in words else SMALL]
    if "--events" in words:
        i = words.index("--events") + 1
        words = [*words[:i], str(min(int(words[i]), int(SMALL))), *words[i + 1:]]
    return words


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A directory holding what the documented commands expect to find."""
    work = tmp_path_factory.mktemp("docs")
    fleet = work / ".fleet"
    write_fleet(fleet, config_for_events(int(SMALL), seed=3))
    payloads = sorted(fleet.glob("payloads-*.ndjson"))
    for folder, pattern in USER_FILES.items():
        (work / folder).mkdir(parents=True, exist_ok=True)
        for n, src in enumerate(payloads if pattern else []):
            dest = work / folder / pattern.format(n=n)
            if dest.suffix == ".gz":
                dest.write_bytes(gzip.compress(src.read_bytes()))
            else:
                shutil.copy(src, dest)
    (work / "cloudwatch").mkdir()
    (work / "cloudwatch" / "throttles.ndjson").write_text(METRIC_POINT)
    (work / "my-rules.yaml").write_text(_documented_rules())
    # a finished run, for the commands that read one (report, analyze-cold-starts, replay)

    assert main(["run", "--quiet", "--events", SMALL, "--out", str(work / "coldtrace-out")]) == 0
    shutil.copytree(work / "coldtrace-out", work / "out")
    return work


def test_the_docs_show_commands_and_most_of_them_run():
    assert len(ALL) >= 30 and len(RUN) >= 12, (len(ALL), len(RUN))
    readme = [cmd for where, cmd in RUN if where == "README.md"]
    assert any(cmd == "coldtrace run --incident error_burst:orders-api:3-6 --incident throttle_storm:notifications:5-7"
               for cmd in readme), readme


@pytest.mark.parametrize("where,command", RUN, ids=[f"{w}: {c}"[:90] for w, c in RUN])
def test_documented_command_runs(workdir, where, command, monkeypatch, capsys):
    """In this process (``pipeline.cli.main``, what the ``coldtrace`` script calls): the imports
    are paid once for all the commands."""
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("COLUMNS", "200")
    try:
        status = main(_small(shlex.split(command)[1:]))
    except SystemExit as exc:  # --help
        status = exc.code
    err = capsys.readouterr().err
    assert status == 0, f"{where}: {command}\n{err[-2000:]}"
    assert "Traceback" not in err


# Pages other branches write (linked from here already): drop a name once its page is merged.
WRITTEN_ELSEWHERE: set[str] = set()   # every linked page is in the repository


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text("utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists() and path.relative_to(ROOT).as_posix() not in WRITTEN_ELSEWHERE:
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_the_readme_is_a_landing_page():
    text = (ROOT / "README.md").read_text("utf-8")
    assert len(text.encode()) < 12_000
    two = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert two == ["python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[test]' && "
                   ".venv/bin/coldtrace run", ".venv/bin/python -m pytest -q"]
