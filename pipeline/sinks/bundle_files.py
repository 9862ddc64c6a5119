"""One file per bundle, written in ``process`` and sealed in ``finish_bundle``.

Beam's DaskRunner drops what ``finish_bundle`` emits (which breaks WriteToText's unsharded
path), but side effects there are kept on every runner. A file is written as ``.part`` and
renamed when its bundle ends, so a failed bundle leaves nothing a reader would pick up.
"""

from __future__ import annotations

import os
import uuid
from typing import IO

import apache_beam as beam


class BundleFileDoFn(beam.DoFn):
    """Base of the sinks that append a bundle's elements to ``<prefix>-<uuid><suffix>``."""

    suffix = ""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._file: IO[bytes] | None = None
        self._path: str | None = None

    def start_bundle(self) -> None:
        self._file, self._path = None, None

    def bundle_file(self) -> tuple[IO[bytes], bool]:
        """The bundle's open file, and whether this call opened it."""
        if self._file is not None:
            return self._file, False

        os.makedirs(os.path.dirname(self.prefix) or ".", exist_ok=True)
        self._path = f"{self.prefix}-{uuid.uuid4().hex}{self.suffix}"
        self._file = open(self._path + ".part", "wb")
        return self._file, True

    def finish_bundle(self) -> None:
        if self._file is not None:
            self._file.close()
            os.replace(self._path + ".part", self._path)
            self._file, self._path = None, None
