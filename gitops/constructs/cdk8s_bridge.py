"""cdk8s both ways: our constructs inside a cdk8s App, and cdk8s charts in our pipeline.

Building each object through a jsii ``ApiObject`` costs milliseconds per object. Instead a
construct whose scope is a cdk8s ``App`` or ``Chart`` lives in a bridging ``Chart`` that
overrides ``to_json()`` to return the construct's Python-built dicts: one jsii object per
construct, none per Kubernetes object. cdk8s is imported lazily, here only.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol

from gitops.constructs.node_runtime import import_cdk8s
from gitops.core.keys import Manifest


class Renders(Protocol):
    """What the bridge needs of a construct: its objects (``Construct.manifests``)."""

    def manifests(self) -> list[Manifest]:
        """Every object of the construct and its children."""
        ...


@cache
def _bridge_class() -> type[Any]:
    cdk8s = import_cdk8s()

    chart_base: Any = cdk8s.Chart

    class GitOpsChart(chart_base):  # type: ignore[misc]  # base is a runtime-imported jsii class
        """A cdk8s Chart whose objects are rendered by a gitops construct."""

        def __init__(self, scope: Any, id: str, construct: Renders) -> None:
            super().__init__(scope, id)
            self._gitops_construct = construct

        def to_json(self) -> list[Manifest]:
            return self._gitops_construct.manifests()

    return GitOpsChart


def attach(scope: Any, id: str, construct: Renders) -> Any:
    """Create the bridging cdk8s Chart for ``construct`` under a cdk8s ``scope``."""
    return _bridge_class()(scope, id, construct)


def manifests_from_app(app: Any) -> list[Manifest]:
    """Return the objects of every chart of a cdk8s ``App`` as plain dicts."""
    return [dict(obj) for chart in app.charts for obj in chart.to_json()]
