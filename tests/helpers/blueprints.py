"""Blueprint source the reliability tests write into a project."""

from __future__ import annotations

#: A construct rendering one object as given (blueprint files prepend it).
RAW_CONSTRUCT = """
from typing import Any

from gitops.constructs.base import Construct


class Raw(Construct):
    type_name = "Raw"

    def __init__(self, scope: Any, id: str, obj: dict[str, Any]) -> None:
        super().__init__(scope, id)
        self.obj = obj
        self._register()

    def _build(self) -> list[dict[str, Any]]:
        return [dict(self.obj)]
"""
