"""The whole app: synthesis passes cdk-nag, templates are cfn-lint clean, IAM has no wildcard actions,
names and PIPELINE_* variables come from pipeline_defs.settings, and the Lambda assets import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.nag import MIN_REASON, acknowledgments
from pipeline_defs.settings import RESOURCE_ENV, ResourceNames

STACKS = ("network", "storage", "database", "stream", "analytics", "api", "orchestration", "monitoring")
# cfn-lint W3005 ("dependency already enforced"): CDK itself adds these DependsOn (Lambda -> role,
# service -> target group, notifications -> queue); they are harmless and not ours to change.
CFN_LINT_IGNORED = {"W3005"}


def test_every_stack_synthesises_under_cdk_nag_quickly(synth):
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []  # the plugin ran; nothing left unacknowledged
    assert set(synth.stacks) == set(STACKS)
    assert {s.stack_name for s in synth.stacks.values()} == {f"pipeline-test-{s}" for s in STACKS}
    assert synth.seconds < 90, f"synthesis took {synth.seconds:.0f}s"


def test_every_acknowledgment_has_a_specific_reason(synth):
    # CDK records its own "CloudFormation-Validate::..." acknowledgments; ours are cdk-nag rules
    # (stored as "Annotation::AwsSolutions-...") and CDK annotations ("Annotation::@aws-cdk/...").
    acks = [a for a in acknowledgments(synth.app) if not a[1].startswith("CloudFormation-Validate::")]
    assert len(acks) > 20, "expected the documented acknowledgments"
    for path, rule, reason in acks:
        assert len(reason) >= MIN_REASON, (path, rule, reason)
        assert rule.startswith(("Annotation::AwsSolutions-", "Annotation::@aws-cdk/")), rule
    # never a blanket IAM5: wildcard resources are acknowledged one ARN at a time
    assert not [a for a in acks if a[1].endswith("AwsSolutions-IAM5")]


@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_is_clean(synth, stack):
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(synth.json(stack)), config=ManualArgs(regions=[synth.config.region]))
    problems = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id not in CFN_LINT_IGNORED]
    assert problems == []


def _policy_documents(template: dict):
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield logical_id, props["PolicyDocument"]
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield logical_id, policy["PolicyDocument"]


def test_no_iam_statement_allows_a_wildcard_action(synth):
    offenders = []
    for stack, template in synth.all_templates():
        for logical_id, document in _policy_documents(template):
            for statement in document["Statement"]:
                actions = statement.get("Action", [])
                for action in [actions] if isinstance(actions, str) else actions:
                    if "*" in action:
                        offenders.append(f"{stack}/{logical_id}: {action}")
    assert offenders == []


def test_storage_outputs_are_the_names_settings_expects(synth):
    outputs = synth.json("storage")["Outputs"]
    described = {o["Description"]: o["Value"] for o in outputs.values() if "Description" in o}
    names = synth.config.names("ACCOUNT")
    for var, attr in RESOURCE_ENV.items():
        if attr == "db_secret_id":
            continue
        value = described[var]
        flat = value if isinstance(value, str) else "".join(
            p if isinstance(p, str) else "ACCOUNT" for p in value["Fn::Join"][1])
        assert flat == getattr(names, attr), var
    db = {o["Description"]: o["Value"] for o in synth.json("database")["Outputs"].values() if "Description" in o}
    assert db["PIPELINE_DB_SECRET_ID"] == names.db_secret_id


def test_deployed_names_are_the_local_names_with_the_env():
    from infra.config import InfraConfig

    local, deployed = ResourceNames(), InfraConfig(env="prod", bucket_suffix="").names("")
    for attr, value in vars(local).items():
        assert getattr(deployed, attr) == value.replace("pipeline", "pipeline-prod", 1)


def _lambda_assets(synth) -> dict[str, Path]:
    """Function name -> staged asset directory (the code's S3 key is <asset hash>.zip)."""
    assets = {}
    for stack in ("stream", "analytics"):
        for resource in synth.resources(stack, "AWS::Lambda::Function").values():
            asset_hash = resource["Properties"]["Code"]["S3Key"].removesuffix(".zip")
            assets[resource["Properties"]["FunctionName"]] = synth.outdir / f"asset.{asset_hash}"
    return assets


@pytest.fixture(scope="module")
def lambda_runtime_path(tmp_path_factory) -> Path:
    """What the Lambda Python runtime provides besides the stdlib: boto3 and its dependencies."""
    runtime = tmp_path_factory.mktemp("lambda-runtime")
    import importlib.util

    for module in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"):
        spec = importlib.util.find_spec(module)
        if spec is None:
            continue
        source = Path(spec.submodule_search_locations[0]) if spec.submodule_search_locations else Path(spec.origin)
        (runtime / source.name).symlink_to(source)
    return runtime


def test_lambda_assets_import_their_handlers_in_a_clean_interpreter(synth, lambda_runtime_path):
    """Only the asset, the stdlib and the runtime's boto3: the way Lambda will import it."""
    assets = _lambda_assets(synth)
    assert set(assets) == {synth.config.function_name(f) for f in ("ingest", "stream_processor", "analytics")}
    probe = ("import sys; sys.path[:0] = sys.argv[1:3]; import handler, pipeline_defs.contracts as c; "
             "assert callable(handler.handler); assert c.__file__.startswith(sys.argv[1]), c.__file__; "
             "print(handler.handler({}, None)['body'])")
    for name, asset in assets.items():
        assert (asset / "pipeline_defs" / "contracts" / "__init__.py").is_file(), name
        result = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(asset), str(lambda_runtime_path)],
                                capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")}, timeout=60)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert result.stdout.startswith("fixture-contracts:"), result.stdout


@pytest.mark.parametrize("function", ["ingest", "stream_processor", "analytics"])
def test_real_function_bundles_import_in_a_clean_interpreter(function, tmp_path, lambda_runtime_path):
    """The real infra/functions/<name>, bundled exactly as a synth does (deps from infra/.build's cache,
    filled from PyPI on first use)."""
    from infra.bundling import FunctionSource, LocalPythonBundler
    from infra.config import REPO_ROOT, InfraConfig
    from infra.lambdas import dependency_cache

    source = FunctionSource.locate(REPO_ROOT, function)
    out = tmp_path / "asset"
    out.mkdir()
    LocalPythonBundler(source, dependency_cache(InfraConfig())).try_bundle(str(out), image=None)
    probe = "import sys; sys.path[:0] = sys.argv[1:3]; import handler; assert callable(handler.handler)"
    result = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(out), str(lambda_runtime_path)],
                            capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")}, timeout=120)
    assert result.returncode == 0, result.stderr
