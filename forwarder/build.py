"""Build the forwarder's deployment zip: exactly what ``forwarder.handler`` imports, plus orjson
and zlib-ng.

The project modules are found by importing the handler in a fresh interpreter and keeping every
module loaded from this repository (so the zip can never miss a module, nor carry Beam). orjson
is a compiled extension: for Lambda it must be the manylinux wheel of the function's
architecture and Python version, fetched with ``pip download --platform … --only-binary=:all:``
(PyPI). If that download fails, the build falls back to the orjson installed here and says
loudly that the zip then runs only on this machine's platform (``--strict`` makes that an
error). zlib-ng (gzip of the records, ~3x less CPU than zlib) is bundled the same way, but a
failed download leaves it out with a warning: the forwarder then gzips with the stdlib. boto3 is provided by the Lambda Python runtime and is not bundled.

    python -m forwarder.build --arch arm64 --python 3.12 --out dist/forwarder.zip
    coldtrace forwarder-build --arch x86_64
"""

from __future__ import annotations

import argparse
import glob
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # reproducible zips: same inputs, same bytes

# The handler plus every forwarder module (some load lazily, on the rare paths), minus this one.
_LIST_MODULES = """
import importlib, json, pkgutil, sys
import forwarder, forwarder.handler
for m in pkgutil.iter_modules(forwarder.__path__):
    if m.name != "build":
        importlib.import_module("forwarder." + m.name)
print(json.dumps(sorted({m: getattr(mod, '__file__', None) for m, mod in sys.modules.items()
                         if getattr(mod, '__file__', None)}.items())))
"""


class BuildError(RuntimeError):
    pass


def project_files() -> list[Path]:
    """Every file of this repository the forwarder imports (fresh interpreter, so nothing extra)."""
    out = subprocess.run([sys.executable, "-c", _LIST_MODULES], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise BuildError(f"importing the forwarder failed:\n{out.stderr.strip()}")
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    names = [m for m, _ in modules]
    if any(n == "apache_beam" or n.startswith("apache_beam.") for n in names):
        raise BuildError("the forwarder imports apache_beam: it must stay import-light")
    files = sorted({Path(f).resolve() for _, f in modules if Path(f).resolve().is_relative_to(ROOT)
                    and ".venv" not in Path(f).parts})
    return [f for f in files if f.suffix == ".py"]


# Native wheels bundled for Lambda's platform: orjson is required; zlib-ng only speeds gzip up
# (records.py falls back to the stdlib's zlib), so a build without it warns and goes on.
WHEELS = (("orjson", "orjson", True), ("zlib-ng", "zlib_ng", False))


def _local(dist_name: str) -> list[tuple[Path, str]]:
    dist = importlib.metadata.distribution(dist_name)
    return [(Path(str(dist.locate_file(f))), str(f)) for f in (dist.files or [])
            if not str(f).endswith(".pyc") and "__pycache__" not in str(f) and ".." not in str(f)]


def _downloaded(dist_name: str, stem: str, arch: str, python: str, workdir: str) -> list[tuple[Path, str]]:
    version = importlib.metadata.version(dist_name)
    abi = "cp" + python.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--platform", PLATFORMS[arch], "--python-version", python, "--implementation", "cp", "--abi", abi,
           "-d", workdir, f"{dist_name}=={version}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    wheels = glob.glob(os.path.join(workdir, f"{stem}-*.whl"))
    if res.returncode != 0 or not wheels:
        raise BuildError((res.stderr or res.stdout).strip().splitlines()[-1] if (res.stderr or res.stdout)
                         else "pip download found no wheel")
    unpacked = os.path.join(workdir, f"{stem}-unpacked")
    with zipfile.ZipFile(wheels[0]) as whl:
        whl.extractall(unpacked)
    return [(p, str(p.relative_to(unpacked))) for p in sorted(Path(unpacked).rglob("*")) if p.is_file()]


def _wheel_files(arch: str, python: str, strict: bool, workdir: str, log) -> list[tuple[Path, str]]:
    files: list[tuple[Path, str]] = []
    for dist_name, stem, required in WHEELS:
        try:
            importlib.metadata.version(dist_name)
        except importlib.metadata.PackageNotFoundError:
            if required:
                raise BuildError(f"{dist_name} is not installed") from None
            log(f"WARNING: {dist_name} is not installed; the forwarder will gzip with the stdlib's zlib.")
            continue
        if arch == "local":
            files += _local(dist_name)
            continue
        try:
            files += _downloaded(dist_name, stem, arch, python, workdir)
        except (BuildError, subprocess.TimeoutExpired, OSError) as exc:
            if strict:
                raise BuildError(f"cannot download {dist_name} for {PLATFORMS[arch]} / Python {python}: {exc}") from None
            if not required:
                log(f"WARNING: cannot download {dist_name} for {PLATFORMS[arch]} / Python {python} ({exc}); "
                    "the forwarder will gzip with the stdlib's zlib.")
                continue
            log(f"WARNING: cannot download {dist_name} for {PLATFORMS[arch]} / Python {python} ({exc}); "
                f"bundling this machine's {dist_name} ({sys.platform}, Python {sys.version_info.major}."
                f"{sys.version_info.minor}) instead: the zip will only run on a matching platform.")
            files += _local(dist_name)
    return files


def _add(zf: zipfile.ZipFile, path: Path, arcname: str) -> None:
    info = zipfile.ZipInfo(arcname, _FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, path.read_bytes(), compresslevel=9)


def build(out: str | Path, arch: str = "arm64", python: str = "3.12", strict: bool = False,
          log=print) -> Path:
    """Write the zip; ``arch="local"`` bundles this machine's orjson and zlib-ng (tests, local runs)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    entries = [(f, str(f.relative_to(ROOT))) for f in project_files()]
    with tempfile.TemporaryDirectory() as tmp:
        wheel_files = _wheel_files(arch, python, strict, tmp, log)
        tmp_out = out.with_suffix(out.suffix + ".tmp")
        with zipfile.ZipFile(tmp_out, "w") as zf:
            for path, arc in sorted(entries + wheel_files, key=lambda e: e[1]):
                _add(zf, path, arc)
        os.replace(tmp_out, out)
    size = out.stat().st_size
    log(f"{out}: {size:,} bytes ({size / (1 << 20):.2f} MiB), {len(entries)} project modules + "
        f"{' + '.join(sorted({arc.split('/')[0].split('-')[0] for _, arc in wheel_files if '/' in arc}))} "
        f"({arch}{'' if arch == 'local' else ', Python ' + python})")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="dist/forwarder.zip", help="where to write the zip")
    p.add_argument("--arch", default="arm64", choices=("arm64", "x86_64", "local"),
                   help="Lambda architecture of the orjson wheel to bundle (local: this machine's orjson)")
    p.add_argument("--python", default="3.12", help="Lambda Python version (runtime python3.12 → 3.12)")
    p.add_argument("--strict", action="store_true", help="fail instead of falling back to the local orjson")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m forwarder.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        build(args.out, args.arch, args.python, args.strict)
    except BuildError as exc:
        print(f"forwarder build: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
