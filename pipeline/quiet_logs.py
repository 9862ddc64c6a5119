"""What a user sees of libraries' logging: nothing, unless ``--verbose``. Their retry warnings,
start-up lines and import complaints are noise to a user; what matters reaches them as
coldtrace's one line (pipeline/errors.py). Used by ``pipeline/cli.py`` and, in each worker
process of a local dask cluster, by ``pipeline/dask_cluster.py``."""

from __future__ import annotations

import logging

NOISY_LOGGERS = ("apache_beam", "elastic_transport", "elasticsearch", "botocore", "boto3", "s3transfer",
                 "urllib3", "distributed", "dask", "bokeh", "tornado", "asyncio", "opentelemetry")
OFF = logging.CRITICAL + 1


class QuietRoot(logging.Filter):
    """Beam warns on the root logger at import that optional GCP clients are missing; coldtrace
    does not use them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


def quiet_logging(verbose: bool) -> None:
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        return
    root = logging.getLogger()
    if not any(isinstance(f, QuietRoot) for f in root.filters):
        root.addFilter(QuietRoot())
    silence(NOISY_LOGGERS)


def silence(prefixes: tuple[str, ...]) -> None:
    """Turn off these loggers and every child logger a library configured for itself."""
    for name in [*prefixes, *logging.root.manager.loggerDict]:
        if name.split(".")[0] in prefixes:
            logging.getLogger(name).setLevel(OFF)
