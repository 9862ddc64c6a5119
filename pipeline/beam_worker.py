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

# Bytes a data channel's send queues hold (Beam: 100 MiB each, two per channel). A worker's
# outputs and the runner's stage inputs go out as messages of a few MiB, and the receiving side
# takes five at a time: more queued is memory, not speed (pipeline.fnapi_inputs).
SEND_QUEUE_BYTES = 16 << 20


def bound_send_queues() -> None:
    """Beam's data plane reads this default when it opens a channel: call before."""
    from apache_beam.runners.worker import data_plane  # noqa: PLC0415 -- after the logging set-up in main(): Beam logs at import

    data_plane._DEFAULT_SEND_QUEUE_MAX_BYTES = SEND_QUEUE_BYTES


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

    bound_send_queues()
    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
