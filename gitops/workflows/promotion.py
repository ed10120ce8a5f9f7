"""Promotion order: an environment takes only the images and models another already ran.

An environment declaring ``promotion: {after: staging}`` (prod, typically) may change to an
image or a model revision only if ``staging`` rendered that same image or revision at an
earlier commit: a tag nobody ran in staging never reaches prod first. What counts:

- every container ``image`` (Pods, pod templates, LeaderWorkerSet templates, KServe
  predictors: any mapping holding ``image`` next to ``name`` or ``args``);
- the model an engine loads and its revision: ``--model``/``--revision`` (and
  ``--tokenizer-revision``) arguments, ``--flag=value`` or ``--flag value``, and a
  KServe ``storageUri``.

Only what the change introduces is judged (artefacts at head the environment did not
render before), so unrelated edits are never blocked by old tags.

Purely data-manipulative: no I/O (the caller reads the histories).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Engine arguments naming what the engine loads.
MODEL_FLAGS = ("--model", "--revision", "--tokenizer-revision", "--code-revision")


def artefacts(manifests: Iterable[Mapping[str, Any]]) -> set[str]:
    """``image <ref>`` and ``<flag> <value>`` / ``storageUri <uri>`` strings in ``manifests``."""
    found: set[str] = set()
    for manifest in manifests:
        _collect(manifest, found)
    return found


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, Mapping):
        image = value.get("image")
        if isinstance(image, str) and ("name" in value or "args" in value):
            found.add(f"image {image}")
        uri = value.get("storageUri")
        if isinstance(uri, str):
            found.add(f"storageUri {uri}")
        for field in ("command", "args"):
            words = value.get(field)
            if isinstance(words, list):
                found.update(_model_args([w for w in words if isinstance(w, str)]))
        for item in value.values():
            if isinstance(item, (Mapping, list)):
                _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)


def _model_args(words: list[str]) -> set[str]:
    out: set[str] = set()
    # A shell command (sh -c "vllm serve ... --model x") is one word: split it as well.
    tokens = [token for word in words for token in word.split()]
    for index, token in enumerate(tokens):
        flag, sep, value = token.partition("=")
        if flag not in MODEL_FLAGS:
            continue
        if not sep:
            value = tokens[index + 1] if index + 1 < len(tokens) else ""
        if value and not value.startswith("-"):
            out.add(f"{flag} {value}")
    return out


@dataclass(frozen=True)
class PromotionStatus:
    """Whether a change to an environment follows its upstream.

    Attributes:
        environment: the environment changed.
        after: the upstream environment it must follow.
        introduced: artefacts the change introduces.
        missing: those the upstream has not rendered at an earlier commit.
        override: the recorded reason to take them anyway ("" when none).
    """

    environment: str
    after: str
    introduced: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    override: str = ""

    @property
    def ok(self) -> bool:
        """Whether everything the change introduces was rendered by the upstream before."""
        return not self.missing

    def __str__(self) -> str:
        if self.ok:
            return (
                f"promotion: {self.environment} after {self.after}: ok "
                f"({len(self.introduced)} new image(s)/model(s), all rendered by "
                f"{self.after} before)"
            )
        text = (
            f"promotion: {self.environment} takes only what {self.after} rendered at an "
            f"earlier commit; not yet rendered by {self.after}: " + ", ".join(self.missing)
        )
        return f"{text} (overridden: {self.override})" if self.override else text

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "environment": self.environment,
            "after": self.after,
            "ok": self.ok,
            "introduced": list(self.introduced),
            "missing": list(self.missing),
            "override": self.override,
        }


def check_promotion(
    environment: str,
    after: str,
    before: Iterable[Mapping[str, Any]],
    head: Iterable[Mapping[str, Any]],
    upstream_history: Iterable[Iterable[Mapping[str, Any]]],
) -> PromotionStatus:
    """Judge a change of ``environment`` (``before`` -> ``head``) against its upstream.

    Args:
        environment: the environment changed.
        after: its upstream.
        before: the environment's objects before the change.
        head: its objects after the change.
        upstream_history: the upstream's rendered objects at each earlier commit.
    """
    introduced = sorted(artefacts(head) - artefacts(before))
    if not introduced:
        return PromotionStatus(environment, after)
    remaining = set(introduced)
    for version in upstream_history:
        remaining -= artefacts(version)
        if not remaining:
            break
    return PromotionStatus(
        environment, after, tuple(introduced), tuple(a for a in introduced if a in remaining)
    )
