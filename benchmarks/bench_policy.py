"""Policy evaluation cost and CEL library comparison: ``python -m benchmarks.bench_policy``.

Compares the two CEL libraries that install from PyPI here, ``common-expression-language``
(module ``cel``, Rust; the one :mod:`gitops.policy` uses) and ``cel-python`` (module
``celpy``, pure Python), on the expressions the guardrail constructs emit:

1. correctness: Kubernetes CEL features the guardrails rely on, and the verdicts of every
   guardrail validation on compliant and non-compliant Deployments;
2. cost per object and rule: the same loop (variables, then validations) on both
   libraries, then the whole :func:`gitops.policy.evaluate` for both guardrail engines.

Prints a table, then ratio lines last as ``name: value (target) ok|MISSED``; exits 1 when
a target is missed (a wrong verdict of ``cel`` included).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import cel
import celpy
from celpy import celtypes

from benchmarks._common import Ratios
from gitops.constructs.base import Scope
from gitops.constructs.guardrails import ClusterGuardrails
from gitops.core.keys import Manifest
from gitops.policy import evaluate
from gitops.policy.cel import KUBERNETES_FUNCTIONS

ERROR = "error"

# (feature, expression, expected) over object = a Deployment and variables = {"n": 1}.
FEATURES: list[tuple[str, str, Any]] = [
    ("startsWith/endsWith/contains", "'ghcr.io/x:1'.startsWith('ghcr.io/') && "
     "'x:1'.endsWith(':1') && 'x:1'.contains(':')", True),
    ("matches (RE2)", "'v0.6.4'.matches('^v[0-9]+[.]')", True),
    ("split (strings ext)", "'a/b/c'.split('/') == ['a', 'b', 'c']", True),
    ("lowerAscii (strings ext)", "'ABC'.lowerAscii() == 'abc'", True),
    ("join (strings ext)", "['a', 'b'].join(', ') == 'a, b'", True),
    ("sum (lists ext)", "[1, 2, 3].sum() == 6", True),
    ("has() present/absent", "has(object.spec.template) && !has(object.spec.nope)", True),
    ("in on maps", "'app.kubernetes.io/name' in object.spec.template.metadata.labels", True),
    ("all/exists/map", "[1, 2].all(x, x > 0) && [1, 2].exists(x, x == 2) && "
     "[1, 2].map(x, x * 2) == [2, 4]", True),
    ("size", "size('abc') == 3 && size(object.spec.template.spec.containers) == 1", True),
    ("variables binding", "variables.n == 1", True),
    ("int(string(quantity))", "int(string(object.spec.template.spec.containers[0]"
     ".resources.limits['nvidia.com/gpu'])) == 1", True),
    ("missing field is an error", "object.spec.nope == 1", ERROR),
]  # fmt: skip


def deployment(index: int, image: str = "ghcr.io/vllm/vllm-openai:v0.6.4") -> Manifest:
    """A compliant engine Deployment (one GPU, probes, requests and limits)."""
    container = {
        "name": "engine",
        "image": image,
        "ports": [{"containerPort": 8000}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": 8000}},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8000}},
        "resources": {
            "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"engine-{index}", "namespace": "llm"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "engine"}},
                "spec": {"containers": [container]},
            }
        },
    }


def non_compliant() -> list[Manifest]:
    """One Deployment per rule, each breaking exactly that rule."""
    cases = []
    for image in ("docker.io/vllm:v1", "ghcr.io/vllm:latest", "ghcr.io/vllm"):
        cases.append(deployment(len(cases), image))
    broken = [
        lambda c: c.pop("livenessProbe"),
        lambda c: c["resources"]["requests"].pop("cpu"),
        lambda c: c["resources"]["limits"].pop("nvidia.com/gpu"),
        lambda c: c["resources"]["limits"].update({"nvidia.com/gpu": 9}),
    ]
    for mutate in broken:
        obj = deployment(len(cases))
        mutate(obj["spec"]["template"]["spec"]["containers"][0])
        cases.append(obj)
    obj = deployment(len(cases))
    obj["spec"]["template"]["metadata"]["labels"] = {}
    cases.append(obj)
    return cases


def guardrails(engine: str) -> list[Manifest]:
    """The rendered guardrail rule set for ``engine``."""
    scope = Scope()
    ClusterGuardrails(scope, "bench", engine=engine, allowed_registries=["ghcr.io"])
    return scope.synth()


class Runner:
    """One CEL library: ``bind`` converts an object once, ``run`` evaluates a source on it."""

    def __init__(
        self,
        name: str,
        compile_: Callable[[str], Any],
        bind: Callable[[Manifest], Any],
        set_variables: Callable[[Any, dict[str, Any]], None],
        run: Callable[[Any, Any], Any],
    ) -> None:
        self.name, self._compile, self.bind = name, compile_, bind
        self.set_variables, self._run = set_variables, run
        self._cache: dict[str, Any] = {}

    def __call__(self, source: str, bound: Any) -> Any:
        program = self._cache.get(source)
        if program is None:
            program = self._cache[source] = self._compile(source)
        return self._run(program, bound)


def rust_runner() -> Runner:
    """common-expression-language with the Kubernetes functions of gitops.policy.cel."""

    def bind(obj: Manifest) -> Any:
        return cel.Context(variables={"object": obj}, functions=KUBERNETES_FUNCTIONS)

    return Runner(
        "cel",
        cel.compile,
        bind,
        lambda context, variables: context.add_variable("variables", variables),
        lambda program, context: program.execute(context),
    )


def _celpy_functions() -> dict[str, Any]:
    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        return lambda *args: celpy.json_to_cel(function(*(_py(a) for a in args)))

    return {name: wrap(function) for name, function in KUBERNETES_FUNCTIONS.items()}


def _py(value: Any) -> Any:
    if isinstance(value, celtypes.MapType):
        return {_py(k): _py(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [_py(v) for v in value]
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType):
        return int(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    return value


def celpy_runner() -> Runner:
    """cel-python with the same Kubernetes functions, converted at the boundary."""
    env = celpy.Environment()
    functions = _celpy_functions()

    def compile_(source: str) -> Any:
        return env.program(env.compile(source), functions=functions)

    def set_variables(activation: dict[str, Any], variables: dict[str, Any]) -> None:
        activation["variables"] = celtypes.MapType(
            {celtypes.StringType(k): v for k, v in variables.items()}
        )

    def run(program: Any, activation: dict[str, Any]) -> Any:
        result = program.evaluate(activation)
        if isinstance(result, celpy.CELEvalError):
            raise ValueError(str(result))
        return result

    return Runner(
        "celpy",
        compile_,
        lambda obj: {"object": celpy.json_to_cel(obj)},
        set_variables,
        run,
    )


def safe(runner: Runner, source: str, bound: Any) -> Any:
    """The result as plain Python, or ``"error"`` when evaluation raised."""
    try:
        return _py(runner(source, bound))
    except Exception:  # either library: any failure is an error verdict for the table
        return ERROR


def policy_verdicts(runner: Runner, policies: Sequence[Manifest], obj: Manifest) -> list[Any]:
    """Every validation's result of every policy on ``obj`` (variables evaluated first)."""
    bound = runner.bind(obj)
    results = []
    for policy in policies:
        spec = policy["spec"]
        variables: dict[str, Any] = {}
        runner.set_variables(bound, variables)
        for variable in spec.get("variables", []):
            variables[variable["name"]] = runner(variable["expression"], bound)
            runner.set_variables(bound, variables)
        for validation in spec["validations"]:
            results.append(safe(runner, validation["expression"], bound))
    return results


def correctness(runners: Sequence[Runner], policies: Sequence[Manifest]) -> list[list[str]]:
    """Rows of (check, one cell per runner): ``ok`` or what went wrong."""
    rows = []
    obj = deployment(0)
    for feature, source, expected in FEATURES:
        cells = []
        for runner in runners:
            bound = runner.bind(obj)
            runner.set_variables(bound, {"n": 1})
            got = safe(runner, source, bound)
            cells.append("ok" if got == expected else f"WRONG ({got!r})")
        rows.append([feature, *cells])
    objects = [deployment(0), *non_compliant()]
    expected_verdicts = [
        [v.policy for v in evaluate([*guardrails("kyverno"), o])] for o in objects
    ]  # Kyverno (no CEL) is the independent reference
    cells = []
    for runner in runners:
        wrong = 0
        for obj, reference in zip(objects, expected_verdicts, strict=True):
            failed = {
                policy["metadata"]["name"]
                for policy in policies
                if any(v is not True for v in policy_verdicts(runner, [policy], obj))
            }
            wrong += failed != set(reference)
        cells.append(f"ok ({len(objects)} objects)" if not wrong else f"WRONG on {wrong}")
    rows.append(["guardrail verdicts = Kyverno's", *cells])
    return rows


def per_rule_cost(runner: Runner, policies: Sequence[Manifest], objects: Sequence[Manifest],
                  repeat: int) -> float:  # fmt: skip
    """Best seconds per (object, rule) of the variables + validations loop."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for obj in objects:
            policy_verdicts(runner, policies, obj)
        best = min(best, time.perf_counter() - start)
    return best / (len(objects) * len(policies))


def expression_cost(
    runner: Runner, policies: Sequence[Manifest], objects: Sequence[Manifest], repeat: int
) -> float:
    """Best seconds per validation expression, object and variables bound beforehand."""
    sources = [v["expression"] for p in policies for v in p["spec"]["validations"]]
    prepared = []
    for obj in objects:
        bound = runner.bind(obj)
        variables: dict[str, Any] = {}
        for variable in policies[0]["spec"]["variables"]:
            runner.set_variables(bound, variables)
            variables[variable["name"]] = runner(variable["expression"], bound)
        runner.set_variables(bound, variables)
        prepared.append(bound)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for bound in prepared:
            for source in sources:
                runner(source, bound)
        best = min(best, time.perf_counter() - start)
    return best / (len(objects) * len(sources))


def evaluate_cost(engine: str, objects: Sequence[Manifest], repeat: int) -> float:
    """Best seconds per (object, rule) of the whole gitops.policy.evaluate()."""
    policies = guardrails(engine)
    rules = sum(1 for p in policies if p["kind"] in ("ValidatingAdmissionPolicy", "ClusterPolicy"))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        evaluate([*policies, *objects])
        best = min(best, time.perf_counter() - start)
    return best / (len(objects) * rules)


def _library_costs(
    runners: Sequence[Runner], policies: Sequence[Manifest], objects: Sequence[Manifest],
    repeat: int,
) -> tuple[list[float], list[float], list[float], list[float]]:  # fmt: skip
    """Per-repeat ratios (celpy over cel) of the rule loop and of one expression, and each
    library's best cost of both.

    Paired and interleaved: each repeat times both libraries back to back; the ratio is
    the median of the per-repeat ratios (the machines are shared and noisy).
    """
    loop_ratios: list[float] = []
    expression_ratios: list[float] = []
    costs, expressions = [float("inf")] * 2, [float("inf")] * 2
    for _ in range(max(repeat, 1)):
        loop = [per_rule_cost(r, policies, objects, 1) for r in runners]
        expression = [expression_cost(r, policies, objects, 1) for r in runners]
        loop_ratios.append(loop[1] / loop[0])
        expression_ratios.append(expression[1] / expression[0])
        costs = [min(a, b) for a, b in zip(costs, loop, strict=True)]
        expressions = [min(a, b) for a, b in zip(expressions, expression, strict=True)]
    return loop_ratios, expression_ratios, costs, expressions


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison, print the table and ratio lines; return 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--objects", type=int, default=200, help="Deployments per run")
    parser.add_argument("--repeat", type=int, default=3, help="paired runs (3)")
    args = parser.parse_args(argv)
    objects = [deployment(i) for i in range(args.objects)]
    policies = [p for p in guardrails("vap") if p["kind"] == "ValidatingAdmissionPolicy"]
    runners = [rust_runner(), celpy_runner()]

    header = ("correctness check", "cel (common-expression-language)", "celpy (cel-python)")
    print(f"{header[0]:34} | {header[1]:34} | {header[2]}")
    rows = correctness(runners, policies)
    for row in rows:
        print(f"{row[0]:34} | {row[1]:34} | {row[2]}")
    loop_ratios, expression_ratios, costs, expressions = _library_costs(
        runners, policies, objects, args.repeat
    )
    vap = evaluate_cost("vap", objects, args.repeat)
    kyverno = evaluate_cost("kyverno", objects, args.repeat)
    print()
    print(f"{'cost (microseconds, best of --repeat)':52} | {'per object and rule':>20}")
    for runner, cost, expression_cost_ in zip(runners, costs, expressions, strict=True):
        print(
            f"{'rule loop (bind, variables, validations), ' + runner.name:52} | {cost * 1e6:20.1f}"
        )
        print(f"{'one validation expression, ' + runner.name:52} | {expression_cost_ * 1e6:20.1f}")
    print(f"{'gitops.policy.evaluate, vap engine':52} | {vap * 1e6:20.1f}")
    print(f"{'gitops.policy.evaluate, kyverno engine':52} | {kyverno * 1e6:20.1f}")
    ratios = Ratios()
    wrong = [row[0] for row in rows if not row[1].startswith("ok")]
    ratios.check("cel_correct", not wrong, f"{len(rows) - len(wrong)} of {len(rows)} checks ok "
                 f"for cel{': wrong on ' + ', '.join(wrong) if wrong else ''}")  # fmt: skip
    # Why the Rust library: the pure-Python one is an order of magnitude slower per
    # expression; binding an object costs both alike, so the whole loop gains less.
    ratios.at_least("celpy_over_cel_rule_loop_ratio", statistics.median(loop_ratios), 2.0)
    ratios.at_least("celpy_over_cel_expression_ratio", statistics.median(expression_ratios), 10.0)
    # Render checks every object against every rule: 1 ms per pair is 20 s for 20,000
    # objects and one rule.
    ratios.at_most("vap_us_per_object_rule", vap * 1e6, 1000, unit="")
    ratios.at_most("kyverno_us_per_object_rule", kyverno * 1e6, 1000, unit="")
    return ratios.finish()


if __name__ == "__main__":
    raise SystemExit(main())
