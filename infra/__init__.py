"""The AWS CDK app (``app.py``) that deploys the data platform, Dagster on ECS included.

A package so tests import the same stacks the CLI synthesises; ``infra/functions/`` holds the
Lambda handlers' code and is bundled, never imported, by this package.
"""

import os as _os

# jsii prints a large banner on every start under Node 20; the CDK works, the banner is noise in CI.
_os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
