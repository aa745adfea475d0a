"""The CDK app: every stack of the data platform, checked by cdk-nag at synthesis.

``cd infra && cdk deploy --all -c env=prod`` deploys; ``python infra/app.py`` (what ``make synth``
runs) writes the templates to ``infra/cdk.out`` without AWS credentials, Docker or the CDK CLI.
Tests call :func:`build_app` with their own context and output directory.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping

_REPO = Path(__file__).resolve().parent.parent
# `python app.py` puts infra/ itself first on sys.path; import its modules as infra.* instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _REPO / "infra"]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import infra  # noqa: E402,F401  (silences jsii's Node banner before aws_cdk starts it)
import aws_cdk as cdk  # noqa: E402

from infra.bundling import BundlingError  # noqa: E402
from infra.config import ConfigError, InfraConfig  # noqa: E402
from infra.nag import apply_checks, report_failures  # noqa: E402
from infra.stacks.analytics import AnalyticsStack  # noqa: E402
from infra.stacks.api import ApiStack  # noqa: E402
from infra.stacks.database import DatabaseStack  # noqa: E402
from infra.stacks.monitoring import MonitoringStack  # noqa: E402
from infra.stacks.network import NetworkStack  # noqa: E402
from infra.stacks.orchestration import OrchestrationStack  # noqa: E402
from infra.stacks.storage import StorageStack  # noqa: E402
from infra.stacks.stream import StreamStack  # noqa: E402

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def feature_flags() -> dict[str, Any]:
    """cdk.json's context (CDK feature flags), so tests synthesise exactly what the CLI does."""
    return json.loads(CDK_JSON.read_text()).get("context", {})


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None,
              nag: bool = True) -> tuple[cdk.App, dict[str, cdk.Stack]]:
    """All stacks in dependency order; returns the app and the stacks by short name."""
    app = cdk.App(context={**feature_flags(), **(context or {})}, outdir=outdir)
    config = InfraConfig.from_context(app.node.try_get_context)
    env = cdk.Environment(account=config.account, region=config.region)
    common = dict(config=config, env=env)

    def name(part: str) -> dict:
        return dict(stack_name=config.stack_name(part), **common)

    stacks: dict[str, cdk.Stack] = {}
    stacks["network"] = network = NetworkStack(app, "Network", **name("network"))
    stacks["storage"] = storage = StorageStack(app, "Storage", **name("storage"))
    stacks["database"] = database = DatabaseStack(app, "Database", vpc=network.vpc, **name("database"))
    stacks["stream"] = stream = StreamStack(app, "Stream", storage=storage, **name("stream"))
    stacks["analytics"] = analytics = AnalyticsStack(app, "Analytics", vpc=network.vpc, database=database,
                                                     **name("analytics"))
    stacks["api"] = ApiStack(app, "Api", ingest=stream.ingest.function,
                             analytics=analytics.analytics.function, **name("api"))
    stacks["orchestration"] = OrchestrationStack(app, "Orchestration", vpc=network.vpc, storage=storage,
                                                 database=database, **name("orchestration"))
    stacks["monitoring"] = MonitoringStack(app, "Monitoring", storage=storage, **name("monitoring"))
    for stack in stacks.values():
        cdk.Tags.of(stack).add("project", "data-pipeline")
        cdk.Tags.of(stack).add("env", config.env)
    if nag:
        apply_checks(app)
    return app, stacks


def _cli_context(argv: list[str]) -> dict[str, str]:
    """``-c key=value`` like the CDK CLI, for ``make synth`` (which needs no CLI)."""
    context, args = {}, iter(argv)
    for arg in args:
        if arg in ("-c", "--context"):
            key, _, value = next(args, "").partition("=")
            if not key or not _:
                raise SystemExit(f"expected -c key=value, got {arg!r}")
            context[key] = value
        else:
            raise SystemExit(f"unknown argument {arg!r}; usage: app.py [-c key=value]...")
    return context


def main(argv: list[str] | None = None) -> int:
    outdir = os.environ.get("CDK_OUTDIR") or str(Path(__file__).resolve().parent / "cdk.out")
    context = _cli_context(sys.argv[1:] if argv is None else argv)
    # Under `cdk deploy` the CLI exports the credentials' account/region; -c account=/region= win.
    for key, variable in (("account", "CDK_DEFAULT_ACCOUNT"), ("region", "CDK_DEFAULT_REGION")):
        if os.environ.get(variable):
            context.setdefault(key, os.environ[variable])
    try:
        app, _ = build_app(context, outdir=outdir)
    except (BundlingError, ConfigError) as exc:
        print(f"synth: {exc}", file=sys.stderr)
        return 1
    try:
        app.synth()
    except RuntimeError as exc:
        if "ValidationFailed" not in str(exc):
            raise
        print(report_failures(app.outdir) or str(exc), file=sys.stderr)
        print("cdk-nag: fix these findings, or acknowledge each with a specific reason "
              "(infra.nag.acknowledge) where the construct is defined.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
