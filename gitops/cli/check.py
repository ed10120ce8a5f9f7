"""``gitops check``: evaluate admission policies on rendered (or given) manifests.

Exit 0 when nothing would be denied (warnings and audits are printed), 1 when any object
would be denied, 2 on error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops.cli.common import add_env_selection, add_input_arguments, input_paths

if TYPE_CHECKING:
    from gitops.core.keys import Manifest, ResourceKey
    from gitops.policy import RuleResult, Violation


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``check`` subcommand and its arguments."""
    parser = subparsers.add_parser(
        "check",
        help="check manifests against the guardrail admission policies",
        description="Render blueprints x environments (or read manifests with -f) and "
        "evaluate every ValidatingAdmissionPolicy and Kyverno ClusterPolicy among them, plus "
        "those in --policies, as the API server would on create; then the capacity checks "
        "(GPU quota at min/max replicas, shm within memory). Exit 0 when nothing is "
        "denied, 1 when an object would be denied, 2 on error.",
    )
    add_input_arguments(parser)
    add_env_selection(parser, "check")
    parser.add_argument(
        "-f",
        "--filename",
        dest="filename",
        metavar="PATH",
        action="append",
        help="check the manifests in a file or directory instead of rendering "
        "(repeatable, as kubectl -f; an object defined twice is an error)",
    )
    parser.add_argument(
        "--policies",
        metavar="PATH",
        action="append",
        help="extra policies (a YAML file or a directory of them; repeatable)",
    )
    parser.add_argument(
        "--values",
        metavar="FILE",
        help="variables Kyverno policies would read from the cluster, in the Kyverno CLI's "
        "Values format (globalValues, per policy rule and resource, namespaceSelector); "
        "default: none, so such policies are refused",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="also list every Kyverno rule result (pass, fail, skip, error) per object, "
        "as a PolicyReport would",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="output format (default: %(default)s)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Check, print one line per violation (or a JSON document), return the exit code."""
    import json

    from gitops.policy import load_policies, load_values, report
    from gitops.policy.capacity import check_capacity
    from gitops.policy.violation import ordered

    extra = [p for path in args.policies or [] for p in load_policies(Path(path))]
    values = load_values(Path(args.values)) if args.values else None
    sets: dict[str, list[Manifest]]
    warnings: dict[str, list[Violation]] = {}
    if args.filename:
        sets = {"": _read_all([Path(p) for p in args.filename])}
    else:
        from gitops.inputs.environments import load_environments
        from gitops.render.exposure import exposure_warnings
        from gitops.render.pipeline import render_environments

        blueprints, environments = input_paths(args)
        sets = render_environments(blueprints, environments, only=args.env)
        for env in load_environments(environments):
            if env.target in sets:  # a fleet's clusters are keyed prod/us-east-1
                warnings[env.target] = exposure_warnings(env, sets[env.target])
    found: dict[str, list[Violation]] = {}
    results: dict[str, list[RuleResult]] = {}
    # The clusters of a fleet mostly render identical sets: each distinct set is checked
    # once (the check is a pure function of the objects, --policies and --values).
    outcomes: dict[str, tuple[list[Violation], list[RuleResult]]] = {}
    for name, manifests in sorted(sets.items()):
        key = _set_key(manifests)
        outcome = outcomes.get(key) if key is not None else None
        if outcome is None:
            violations, rule_results = report(manifests, extra, values)
            outcome = ([*violations, *check_capacity(manifests)], rule_results)
            if key is not None:
                outcomes[key] = outcome
        results[name] = outcome[1]
        found[name] = ordered([*outcome[0], *warnings.get(name, [])])
    denied = any(v.action == "Deny" for violations in found.values() for v in violations)
    if args.output == "json":
        print(json.dumps(_json(found, results if args.report else None, denied), indent=2))
    else:
        _print_text(found, results if args.report else None, denied)
    return 1 if denied else 0


def _json(
    found: dict[str, list[Violation]],
    results: dict[str, list[RuleResult]] | None,
    denied: bool,
) -> dict[str, Any]:
    """The JSON document: every violation, and every rule result with ``--report``."""
    document = [
        {
            **_about(name, v.key),
            "policy": v.policy,
            "rule": v.rule,
            "action": v.action,
            "message": v.message,
            "provenance": v.provenance,
        }
        for name, violations in found.items()
        for v in violations
    ]
    output: dict[str, Any] = {"violations": document, "denied": denied}
    if results is not None:
        output["results"] = [
            {
                **_about(name, r.key),
                "policy": r.policy,
                "rule": r.rule,
                "result": r.result,
                "message": r.message,
            }
            for name, rule_results in results.items()
            for r in rule_results
        ]
    return output


def _about(environment: str, key: ResourceKey) -> dict[str, Any]:
    """The environment and object a JSON entry is about."""
    return {
        "environment": environment or None,
        "kind": key.kind,
        "apiVersion": key.api_version,
        "namespace": key.namespace or None,
        "name": key.name,
    }


def _print_text(
    found: dict[str, list[Violation]],
    results: dict[str, list[RuleResult]] | None,
    denied: bool,
) -> None:
    """Rule results (``--report``), one line per violation, then the verdict."""
    for name, rule_results in (results or {}).items():
        for r in rule_results:
            line = f"{r.key}: {r.policy}/{r.rule}" + (f": {r.message}" if r.message else "")
            line = f"{r.result} {line}"
            print(f"{name}: {line}" if name else line)
    for name, violations in found.items():
        for violation in violations:
            print(f"{name}: {violation}" if name else str(violation))
    total = sum(len(v) for v in found.values())
    checked = ", ".join(f"{name}" for name in found if name) or "given manifests"
    verdict = "denied" if denied else "passed"
    print(f"check {verdict}: {total} violation(s) in {checked}")


def _set_key(manifests: list[Manifest]) -> str | None:
    """A digest of the exact objects (types included), ``None`` if one cannot be digested."""
    import hashlib

    from gitops.render.cache import digest

    parts = []
    for obj in manifests:
        part = digest(obj)
        if part is None:
            return None
        parts.append(part)
    return hashlib.sha1("\n".join(parts).encode(), usedforsecurity=False).hexdigest()


def _read_all(paths: list[Path]) -> list[Manifest]:
    """Manifests of every ``-f`` path, in order; an object in two paths is an error."""
    from gitops.core.errors import InputError
    from gitops.core.keys import key_of
    from gitops.workflows.desired import read_path

    manifests: list[Manifest] = []
    seen: dict[Any, Path] = {}
    for path in paths:
        for manifest in read_path(path):
            key = key_of(manifest)
            if key in seen:
                raise InputError(f"{path}: {key} is already defined in {seen[key]}")
            seen[key] = path
            manifests.append(manifest)
    return manifests
