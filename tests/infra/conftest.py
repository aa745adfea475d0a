"""One synthesis of the whole CDK app per session, against throwaway Lambda sources.

The real handlers (infra/functions/) are written under other issues; these tests build the stacks
from minimal fixture functions and a fixture contract package in a temporary source root
(``-c sourceRoot=...``), with the Lambda dependency cache forced offline so nothing is downloaded.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import infra  # noqa: F401  (quiets jsii before aws_cdk loads)
from aws_cdk.assertions import Template

from infra.config import InfraConfig

FUNCTIONS = ("ingest", "stream_processor", "analytics")
FIXTURE_HANDLER = '''"""Fixture handler for infra tests: proves the asset layout, not behaviour."""
from pipeline_defs.contracts import MARKER

NAME = {name!r}


def handler(event, context):
    return {{"statusCode": 200, "body": MARKER + ":" + NAME}}
'''
CONTEXT = {"env": "test", "region": "eu-west-1", "lambdaDepsOffline": True}


def make_source_root(root: Path, functions=FUNCTIONS, requirements: str = "# no dependencies\n") -> Path:
    """A source root with infra/functions/<name>/handler.py and pipeline_defs/contracts/."""
    for name in functions:
        folder = root / "infra" / "functions" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "handler.py").write_text(FIXTURE_HANDLER.format(name=name))
        (folder / "requirements.txt").write_text(requirements)
    contracts = root / "pipeline_defs" / "contracts"
    contracts.mkdir(parents=True, exist_ok=True)
    (contracts / "__init__.py").write_text('MARKER = "fixture-contracts"\n')
    return root


@dataclass
class Synth:
    outdir: Path
    config: InfraConfig
    app: object
    stacks: dict
    seconds: float
    _templates: dict = field(default_factory=dict)

    def json(self, stack: str) -> dict:
        if stack not in self._templates:
            artifact = self.stacks[stack].artifact_id
            self._templates[stack] = json.loads((self.outdir / f"{artifact}.template.json").read_text())
        return self._templates[stack]

    def template(self, stack: str) -> Template:
        return Template.from_json(self.json(stack))

    def resources(self, stack: str, type_: str) -> dict:
        return {k: v for k, v in self.json(stack)["Resources"].items() if v["Type"] == type_}

    def all_templates(self):
        for name in self.stacks:
            yield name, self.json(name)


@pytest.fixture(scope="session")
def source_root(tmp_path_factory) -> Path:
    return make_source_root(tmp_path_factory.mktemp("sources"))


@pytest.fixture(scope="session")
def synth(source_root, tmp_path_factory) -> Synth:
    from infra.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    context = {**CONTEXT, "sourceRoot": str(source_root),
               "lambdaDepsCache": str(tmp_path_factory.mktemp("deps"))}
    started = time.perf_counter()
    app, stacks = build_app(context, outdir=str(outdir))
    app.synth()  # raises ValidationFailed on any unacknowledged cdk-nag finding
    config = InfraConfig.from_mapping(context)
    return Synth(outdir, config, app, stacks, time.perf_counter() - started)
