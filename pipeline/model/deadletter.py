"""Input that could not be processed, kept whole with the stage and the reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.model.common import _put, iso_ms, stable_id


@dataclass(slots=True)
class DeadLetter:
    """Input that could not be processed, kept whole with the stage and the reason."""

    raw: str
    stage: str
    error: str
    source: str | None = None
    time_ms: int | None = None

    def doc_id(self) -> str:
        return stable_id(self.stage, self.source, self.raw)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@timestamp": iso_ms(self.time_ms or 0),
            "event.dataset": "coldtrace.deadletter",
            "event.original": self.raw,
            "error.message": self.error,
            "coldtrace.stage": self.stage,
        }
        _put(doc, "coldtrace.source", self.source)
        return doc
