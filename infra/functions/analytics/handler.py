"""Analytics API Lambda: ``handler.handler`` behind API Gateway (REST, proxy integration), and the
target of the EventBridge rule for ``PartitionLoaded`` events (cache invalidation).

The code lives in the ``analytics_api`` package beside this file. In the Lambda bundle this folder
is the root of ``sys.path``; the local gateway loads this file by path, so it puts its own folder
on ``sys.path`` first (the package name is unique, so other functions' modules cannot collide).
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from analytics_api.app import handle, reset_runtime  # noqa: E402

__all__ = ["handler", "reset_runtime"]


def handler(event, context):
    return handle(event, context)
