"""Helpers for pipeline tests: run the batch pipeline and read its index files back."""

from __future__ import annotations

from pathlib import Path

from pipeline.local_index import index_path, read_index
from pipeline.model import INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS
from pipeline.run import RunConfig, run


def run_fleet(fleet_dir: Path, truth: dict, out: Path, extra_inputs: list[str] | None = None, **kw) -> Path:
    arch = {fn: f["architecture"] for fn, f in truth["functions"].items()}
    cfg = RunConfig(inputs=[str(fleet_dir / "payloads-*.ndjson"), *(extra_inputs or [])], out_dir=str(out),
                    account=truth["config"]["account"], region=truth["config"]["region"], architectures=arch, **kw)
    run(cfg)
    return out


def docs(out: Path, index: str) -> list[dict]:
    path = index_path(str(out), index)
    return [doc for _, doc in read_index(path)]


def actions(out: Path, index: str) -> list[dict]:
    return [action for action, _ in read_index(index_path(str(out), index))]


__all__ = ["run_fleet", "docs", "actions", "INDEX_LOGS", "INDEX_INVOCATIONS", "INDEX_DEADLETTER"]
