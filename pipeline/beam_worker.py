"""Entry point of the worker processes FnApiRunner starts for ``--workers N`` (N > 1).

It is Beam's SDK harness (``apache_beam.runners.worker.sdk_worker_main``) with quieter
logging: the harness logs its start-up at INFO to stderr before it has read any option, which
printed two dozen lines into every multi-worker ``coldtrace run``. Here only warnings reach
stderr, less the two Beam always gives (missing GCP clients, no semi-persistent directory).
Everything still goes to the runner through the harness's own logging channel.
"""

from __future__ import annotations

import logging
import sys

# Messages every worker logs and no user can act on.
HARMLESS = ("apitools not found", "No semi_persistent_directory found")


class QuietHarness(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in HARMLESS)


def main() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.addFilter(QuietHarness())
    handler.setFormatter(logging.Formatter("coldtrace worker %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])

    from apache_beam.runners.worker import sdk_worker_main  # noqa: PLC0415 -- after the logging set-up above: it logs at import

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
