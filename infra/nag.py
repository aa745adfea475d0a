"""cdk-nag 3.x wiring: AwsSolutions checks as a CDK validation plugin, acknowledgments with reasons.

cdk-nag 3 replaced ``NagSuppressions``/Aspects with ``Validations.of(app).add_plugins(...)``: every
unacknowledged finding (errors *and* warnings) makes ``app.synth()`` raise ``ValidationFailed`` and
writes ``validation-report.json`` into the cloud assembly. Acknowledging goes through
``Validations.of(construct).acknowledge(...)``, which applies to the construct and its children.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

MIN_REASON = 40  # characters: long enough that "not needed" cannot pass as a reason


def apply_checks(app: App) -> None:
    """Run AwsSolutions over the whole app at synthesis; any open finding fails the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Accept one finding (``AwsSolutions-X`` or ``AwsSolutions-IAM5[Resource::...]``) on a construct."""
    if len(reason.strip()) < MIN_REASON:
        raise ValueError(f"acknowledging {rule} needs a specific reason, got {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def flatten(node: Any) -> str:
    """cdk-nag's flattenCfnReference: the string a wildcard finding is reported (and acknowledged) as."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return delimiter.join(flatten(item) for item in items)
        if "Fn::Sub" in node:
            return flatten(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten(resource)}.{flatten(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def resource_finding(scope: IConstruct, resource: str) -> str:
    """The IAM5 finding id a policy resource produces in ``scope``'s stack."""
    return f"AwsSolutions-IAM5[Resource::{flatten(Stack.of(scope).resolve(resource))}]"


def acknowledgments(root: IConstruct) -> Iterator[tuple[str, str, str]]:
    """(construct path, rule, reason) for every acknowledgment under ``root``, for review and tests."""
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key and entry.data:
                for rule, reason in entry.data.items():
                    yield construct.node.path, rule, reason


def report_failures(outdir: str | Path) -> str:
    """A readable summary of validation-report.json (what failed where, and how to acknowledge)."""
    path = Path(outdir) / "validation-report.json"
    if not path.exists():
        return ""
    report = json.loads(path.read_text())
    lines = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                lines.append(f"{violation['ruleName']}: {construct['constructPath']} - "
                             f"{violation['description'].splitlines()[0]}")
    return "\n".join(lines)
