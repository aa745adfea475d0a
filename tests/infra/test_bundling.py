"""Local Lambda bundling without Docker: layout, contracts, pinned dependencies and their cache."""

from __future__ import annotations

import pytest

from infra.bundling import (
    DEFAULT_REQUIREMENTS,
    BundlingError,
    DependencyCache,
    FunctionSource,
    LocalPythonBundler,
)

from .conftest import make_source_root


@pytest.fixture
def root(tmp_path):
    return make_source_root(tmp_path / "src", functions=("ingest",))


def _prefill(cache: DependencyCache, requirements) -> None:
    """What a previous online synth leaves in the cache: an installed package and the marker."""
    entry = cache.root / cache.key(requirements)
    (entry / "fakepkg").mkdir(parents=True)
    (entry / "fakepkg" / "__init__.py").write_text("VERSION = '1.0'\n")
    (entry / "bin").mkdir()
    (entry / ".complete").write_text("fakepkg==1.0\n")


def test_bundle_has_handler_contracts_stub_and_cached_dependencies(root, tmp_path):
    requirements = root / "infra" / "functions" / "ingest" / "requirements.txt"
    requirements.write_text("fakepkg==1.0  # pinned\n")
    (root / "infra" / "functions" / "ingest" / "tests").mkdir()
    (root / "infra" / "functions" / "ingest" / "tests" / "test_x.py").write_text("")
    source = FunctionSource.locate(root, "ingest")
    cache = DependencyCache(tmp_path / "cache", offline=True)
    _prefill(cache, requirements)
    out = tmp_path / "out"
    out.mkdir()
    assert LocalPythonBundler(source, cache).try_bundle(str(out), image=None) is True
    assert (out / "handler.py").is_file()
    assert (out / "pipeline_defs" / "contracts" / "__init__.py").read_text() == 'MARKER = "fixture-contracts"\n'
    assert "only the shared contracts" in (out / "pipeline_defs" / "__init__.py").read_text()
    assert (out / "fakepkg" / "__init__.py").is_file()
    assert not (out / "bin").exists() and not (out / ".complete").exists()
    assert not (out / "tests").exists() and not (out / "requirements.txt").exists()


def test_offline_without_cache_fails_with_instructions(root, tmp_path):
    requirements = root / "infra" / "functions" / "ingest" / "requirements.txt"
    requirements.write_text("fakepkg==1.0\n")
    cache = DependencyCache(tmp_path / "cache", offline=True)
    with pytest.raises(BundlingError, match="not in the cache .* lambdaDepsOffline"):
        cache.ensure(requirements)


def test_requirements_must_be_pinned_and_empty_sets_need_nothing(root, tmp_path):
    requirements = root / "infra" / "functions" / "ingest" / "requirements.txt"
    cache = DependencyCache(tmp_path / "cache", offline=True)
    requirements.write_text("# nothing\n\n")
    assert cache.ensure(requirements) is None
    requirements.write_text("aws-lambda-powertools>=3\n")
    with pytest.raises(BundlingError, match="pin every requirement"):
        cache.ensure(requirements)
    pins = [line for line in DEFAULT_REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    assert pins and all("==" in line for line in pins)


def test_asset_hash_follows_handler_contracts_and_requirements(root):
    before = FunctionSource.locate(root, "ingest").asset_hash()
    assert FunctionSource.locate(root, "ingest").asset_hash() == before  # deterministic
    contracts = root / "pipeline_defs" / "contracts" / "__init__.py"
    contracts.write_text(contracts.read_text() + "# changed\n")
    after_contracts = FunctionSource.locate(root, "ingest").asset_hash()
    assert after_contracts != before
    (root / "infra" / "functions" / "ingest" / "requirements.txt").write_text("x==1\n")
    after_requirements = FunctionSource.locate(root, "ingest").asset_hash()
    assert after_requirements != after_contracts
    (root / "infra" / "functions" / "ingest" / "__pycache__").mkdir()  # bytecode is not source
    (root / "infra" / "functions" / "ingest" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"x")
    assert FunctionSource.locate(root, "ingest").asset_hash() == after_requirements


def test_missing_contracts_or_handler_are_named(tmp_path):
    root = make_source_root(tmp_path / "src", functions=("ingest",))
    with pytest.raises(BundlingError, match=r"infra/functions/analytics/handler\.py not found"):
        FunctionSource.locate(root, "analytics")
    (root / "pipeline_defs" / "contracts" / "__init__.py").unlink()
    with pytest.raises(BundlingError, match="shared contract package"):
        FunctionSource.locate(root, "ingest")


def test_default_requirements_apply_when_a_function_has_none(root):
    (root / "infra" / "functions" / "ingest" / "requirements.txt").unlink()
    assert FunctionSource.locate(root, "ingest").requirements == DEFAULT_REQUIREMENTS


def test_default_powertools_pin_matches_the_dev_environment():
    """The bundled Powertools is the version the handler tests run against."""
    import tomllib

    from infra.config import REPO_ROOT

    dev = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    dev_pin = next(d for d in dev if d.startswith("aws-lambda-powertools"))
    assert dev_pin in DEFAULT_REQUIREMENTS.read_text()
