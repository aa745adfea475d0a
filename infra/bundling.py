"""Lambda assets built locally, without Docker: handler dir + shared contracts + pinned wheels.

Each asset is ``infra/functions/<name>/`` (handler ``handler.handler``), the shared contract package
``pipeline_defs/contracts/`` (bundled, never copied into the function folder) under a stub
``pipeline_defs/__init__.py`` so the Lambda does not import the Dagster side, and the function's
pinned requirements installed for the Lambda platform with
``pip install --platform manylinux2014_x86_64 --only-binary=:all: --target``.

Installed requirement sets are cached by content hash under ``lambdaDepsCache`` and hard-linked
into each asset, so repeated synths neither download nor copy much; the asset hash covers the
sources, the requirements and this module's ``BUNDLE_FORMAT``, so CDK skips bundling entirely when
``cdk.out`` already holds the asset. ``lambdaDepsOffline`` forbids pip (CI without network) and
``lambdaWheelhouse`` points pip at a local wheel directory instead of PyPI.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import ILocalBundling

BUNDLE_FORMAT = "1"  # bump when the layout of a bundle changes, to invalidate cached assets
PLATFORM = "manylinux2014_x86_64"
LAMBDA_PYTHON = "3.14"  # keep in step with the Runtime in infra/lambdas.py
DEFAULT_REQUIREMENTS = Path(__file__).resolve().parent / "lambda-requirements.txt"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "tests", "requirements*.txt")
_STUB_INIT = '"""Lambda bundle: only the shared contracts subpackage of pipeline_defs is shipped."""\n'


class BundlingError(RuntimeError):
    """A Lambda asset cannot be built; the message says which and how to fix it."""


@dataclass(frozen=True)
class FunctionSource:
    name: str
    function_dir: Path
    contracts_dir: Path
    requirements: Path

    @classmethod
    def locate(cls, source_root: str | Path, name: str) -> "FunctionSource":
        root = Path(source_root).resolve()
        function_dir = root / "infra" / "functions" / name
        contracts_dir = root / "pipeline_defs" / "contracts"
        if not (function_dir / "handler.py").is_file():
            raise BundlingError(
                f"Lambda function '{name}': {function_dir}/handler.py not found. The function code "
                f"lives in infra/functions/{name}/ with a `handler(event, context)` in handler.py "
                f"(source root {root}, set with -c sourceRoot=...)."
            )
        if not (contracts_dir / "__init__.py").is_file():
            raise BundlingError(
                f"Lambda function '{name}': the shared contract package {contracts_dir} is missing; "
                "it is bundled into every function (pipeline_defs/contracts/__init__.py)."
            )
        own = function_dir / "requirements.txt"
        return cls(name, function_dir, contracts_dir, own if own.is_file() else DEFAULT_REQUIREMENTS)

    def asset_hash(self) -> str:
        digest = hashlib.sha256(f"{BUNDLE_FORMAT}|{PLATFORM}|{LAMBDA_PYTHON}".encode())
        for label, root in (("fn", self.function_dir), ("contracts", self.contracts_dir)):
            for path in _files(root):
                digest.update(f"{label}/{path.relative_to(root).as_posix()}\0".encode())
                digest.update(path.read_bytes())
        digest.update(_requirement_lines(self.requirements).encode())
        return digest.hexdigest()


def _files(root: Path) -> list[Path]:
    skipped = {"__pycache__", ".pytest_cache", "tests"}
    return sorted(p for p in root.rglob("*") if p.is_file() and not skipped & set(p.relative_to(root).parts)
                  and p.suffix != ".pyc" and not p.name.startswith("requirements"))


def _requirement_lines(requirements: Path) -> str:
    lines = []
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return "\n".join(lines)


class DependencyCache:
    """Requirement sets installed once per content hash, then reused by every asset and synth."""

    def __init__(self, root: str | Path, *, offline: bool = False, wheelhouse: str | Path | None = None):
        self.root = Path(root)
        self.offline = offline
        self.wheelhouse = Path(wheelhouse) if wheelhouse else None

    def key(self, requirements: Path) -> str:
        text = _requirement_lines(requirements)
        return hashlib.sha256(f"{PLATFORM}|{LAMBDA_PYTHON}|{text}".encode()).hexdigest()[:24]

    def ensure(self, requirements: Path) -> Path | None:
        """The directory holding the installed requirements (None when there are none)."""
        text = _requirement_lines(requirements)
        if not text:
            return None
        unpinned = [line for line in text.splitlines() if "==" not in line or line.startswith("-")]
        if unpinned:
            raise BundlingError(f"{requirements}: pin every requirement with '==' (found {unpinned})")
        target = self.root / self.key(requirements)
        if (target / ".complete").exists():
            return target
        if self.offline and not self.wheelhouse:
            raise BundlingError(
                f"Lambda dependencies of {requirements} are not in the cache {target} and "
                "lambdaDepsOffline is set: run one synth with network access (or -c "
                "lambdaWheelhouse=<dir of wheels>) to fill the cache."
            )
        self._install(requirements, target)
        return target

    def _install(self, requirements: Path, target: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".tmp-{target.name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--target", str(staging), "--requirement", str(requirements),
            "--platform", PLATFORM, "--implementation", "cp", "--python-version", LAMBDA_PYTHON,
            "--only-binary=:all:", "--upgrade",
        ]
        if self.wheelhouse:
            command += ["--no-index", "--find-links", str(self.wheelhouse)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise BundlingError(f"pip could not install {requirements} for the Lambda platform:\n"
                                f"{result.stderr.strip()[-2000:]}")
        (staging / ".complete").write_text(_requirement_lines(requirements) + "\n")
        try:
            os.replace(staging, target)
        except OSError:  # another synth filled the same key meanwhile; keep theirs
            shutil.rmtree(staging, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@jsii.implements(ILocalBundling)
class LocalPythonBundler:
    """CDK's local-bundling hook: builds the asset in-process, so Docker is never needed."""

    def __init__(self, source: FunctionSource, cache: DependencyCache):
        self.source = source
        self.cache = cache

    def try_bundle(self, output_dir: str, *, image=None, **_options) -> bool:
        out = Path(output_dir)
        deps = self.cache.ensure(self.source.requirements)
        if deps is not None:
            shutil.copytree(deps, out, dirs_exist_ok=True, copy_function=_link_or_copy,
                            ignore=shutil.ignore_patterns(".complete", "__pycache__", "bin"))
        shutil.copytree(self.source.function_dir, out, dirs_exist_ok=True, ignore=_SKIP)
        package = out / "pipeline_defs"
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text(_STUB_INIT)
        shutil.copytree(self.source.contracts_dir, package / "contracts", dirs_exist_ok=True, ignore=_SKIP)
        return True
