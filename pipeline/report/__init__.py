"""The HTML report of a run: data assembly from the local index files (pure), rendering into one
self-contained page (inline script and style, no network), and the cold-start analysis shared with
``coldtrace analyze-cold-starts``."""
