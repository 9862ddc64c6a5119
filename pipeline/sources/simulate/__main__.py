"""`python -m pipeline.sources.simulate OUT --events N`: see `pipeline.sources.simulate.cli`."""

from pipeline.sources.simulate.cli import main

if __name__ == "__main__":
    main()
