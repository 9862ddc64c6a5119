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
# A worker's output to the runner is sent when this much is buffered (Beam: 10 MiB). Each output
# of a fused stage has its own buffer, which keeps the largest size it ever reached: the fold
# stage has about twenty, and at 4M events memray found 220 MiB of them in one worker.
FLUSH_BYTES = 1 << 20


def bound_data_plane() -> None:
    """Smaller send queues and output buffers for Beam's data plane in this process (idempotent).
    Beam reads them when it opens a channel or a stream: call before the pipeline runs."""
    from apache_beam.runners.worker import data_plane  # noqa: PLC0415 -- after the logging set-up in main(): Beam logs at import

    data_plane._DEFAULT_SEND_QUEUE_MAX_BYTES = SEND_QUEUE_BYTES
    beams = data_plane.ClosableOutputStream.create
    if getattr(beams, "flush_bytes", None):
        return

    def create(close_callback, flush_callback, data_buffer_time_limit_ms):
        if data_buffer_time_limit_ms > 0:   # a time-based stream: Beam's own
            return beams(close_callback, flush_callback, data_buffer_time_limit_ms)
        return data_plane.SizeBasedBufferingClosableOutputStream(
            close_callback, flush_callback=flush_callback, size_flush_threshold=FLUSH_BYTES)

    create.flush_bytes = FLUSH_BYTES
    data_plane.ClosableOutputStream.create = staticmethod(create)


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

    bound_data_plane()
    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
