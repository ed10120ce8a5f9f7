"""The event-driven YAML reader (:mod:`gitops.core.yaml_input`): the same values as PyYAML's safe
loader, the caps counted while parsing, and items of a capture streamed under per-item caps.

The hostile inputs through every reader are in ``test_reliability_yaml.py``.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml
from helpers.typed import typed
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.core.errors import InputError
from gitops.core.yaml_input import Caps, iter_documents

CAPS = Caps(nodes=1000, depth=100)


class _Reference(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader, timestamps kept as strings (as kubectl does)."""


_Reference.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: str(loader.construct_scalar(node)),  # type: ignore[arg-type]
)


def ours(text: str, caps: Caps = CAPS, **options: Any) -> list[Any]:
    return [p.value for p in iter_documents(text, "in.yaml", caps, **options)]


def reference(text: str) -> list[Any] | type[InputError]:
    """PyYAML's documents, or InputError where PyYAML refuses the text too."""
    try:
        return [d for d in yaml.load_all(text, Loader=_Reference) if d is not None]
    except yaml.YAMLError:
        return InputError


def ours_or_error(text: str) -> list[Any] | type[InputError]:
    try:
        return ours(text)
    except InputError:
        return InputError


# Plain scalars whose YAML 1.1 type is easy to get wrong: booleans (yes/on/y is not one),
# octal, hex, sexagesimal, underscores, nulls, timestamps, floats, strings.
TRICKY = [
    "yes", "No", "on", "OFF", "y", "n", "true", "False", "~", "null", "", "0o17", "017",
    "0x1F", "1_000", "190:20:30", "1.5e3", "-.5", "2024-01-01", "2024-01-01T10:00:00Z",
    "8080", "-0", "+12", "0b101", "v1.2", "1.2.3", "a:b", "=", "<<x", "ConfigMap", "3Gi",
]  # fmt: skip

scalar_text = st.one_of(
    st.sampled_from(TRICKY),
    st.sampled_from(TRICKY).map(lambda t: f'"{t}"'),
    st.sampled_from(TRICKY).map(lambda t: f"'{t}'"),
    st.sampled_from(["!!str 12", "!!int '7'", "!!float '1'", "!!bool 'yes'", "!!null ''"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text("abcxyz", min_size=1, max_size=3), scalar_text), max_size=8))
def test_scalars_resolve_as_pyyaml_does(pairs: list[tuple[str, str]]) -> None:
    keys = {key for key, _ in pairs}
    block = "".join(f"{key}: {value}\n" for key, value in dict(pairs).items()) or "{}\n"
    flow = "[" + ", ".join(value for _, value in pairs) + "]\n"
    for text in (block, flow):
        assert typed(ours_or_error(text)) == typed(reference(text)), text
    assert len(keys) == len(dict(pairs))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=30,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=3), st.booleans())
def test_dumped_documents_read_back_as_pyyaml_reads_them(documents: list[Any], flow: bool) -> None:
    text = yaml.safe_dump_all(documents, default_flow_style=flow)
    assert typed(ours(text)) == typed(reference(text))


def test_anchors_aliases_and_merge_keys_build_what_pyyaml_builds() -> None:
    text = (
        "base: &b {image: x, port: 1}\n"
        "extra: &e {port: 2, debug: true}\n"
        "one: {<<: *b, image: y}\n"
        "two:\n  <<: [*e, *b]\n  name: z\n"
        "list: &l [1, 2]\n"
        "again: *l\n"
    )
    assert typed(ours(text)) == typed(reference(text))
    (document,) = ours(text)
    assert document["two"] == {"port": 1, "debug": True, "image": "x", "name": "z"}
    assert list(document["two"]) == list(reference(text)[0]["two"])  # key order too


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: *nope\n", r"line 1, column 4: invalid YAML: found undefined alias 'nope'"),
        ("? [a]\n: 1\n", r"invalid YAML: found unhashable key"),
        ("a: {<<: 3}\n", r"invalid YAML: expected a mapping or list of mappings for merging"),
        ("a: !!int x\n", r"a value does not fit its type \(ValueError\)"),
        ("a: !custom 1\n", r"could not determine a constructor for the tag '!custom'"),
        ("a: !!omap [x: 1]\n", r"/a is a omap, not a JSON value"),
        ("a: {b: [1, .inf]}\n", r"document at line 1: /a/b/1 is a non-finite float"),
        ("a: 1\n<<: {b: 1}\n<<: {c: 1}\n", r"line 3: duplicate mapping key '<<'"),
        ("a:\n  b: 1\n  'b': 2\n", r"line 3: duplicate mapping key 'b'"),
    ],
)
def test_malformed_documents_name_the_line_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(InputError, match=rf"^in\.yaml:.*{message}"):
        ours(text)


def test_depth_and_node_caps_are_exact() -> None:
    caps = Caps(nodes=10, depth=3)
    assert ours("[[[]]]\n", caps) == [[[[]]]]  # three levels
    with pytest.raises(InputError, match=r"line 1: nesting deeper than 3 levels"):
        ours("[[[x]]]\n", caps)  # the scalar is on level 4
    assert ours("[1, 2, 3, 4, 5, 6, 7, 8, 9]\n", caps) == [list(range(1, 10))]  # 10 nodes
    with pytest.raises(InputError, match=r"line 1: document has more than 10 nodes"):
        ours("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n", caps)
    # Six nodes, but the alias counts its list in full: 1 + 1 + 4 + 1 + 4 = 11.
    with pytest.raises(InputError, match=r"expands to more than 10 nodes"):
        ours("a: &x [1, 2, 3]\nb: *x\n", caps)


LIST_OF_THREE = (
    "apiVersion: v1\nkind: List\nitems:\n"
    + "".join(f"- {{kind: ConfigMap, data: [{', '.join(['0'] * 6)}]}}\n" for _ in range(3))
    + "metadata: {}\n"
)


def test_streamed_items_are_capped_each_not_the_whole_list() -> None:
    caps = Caps(nodes=11, depth=3)  # one item: 1 + 2 + 1 + 1 + 6 = 11 nodes, 3 levels
    with pytest.raises(InputError, match=r"line 4: document has more than 11 nodes"):
        ours(LIST_OF_THREE, Caps(nodes=11, depth=10))  # the whole List is one document
    with pytest.raises(InputError, match=r"line 4: nesting deeper than 3 levels"):
        ours(LIST_OF_THREE, caps)
    parsed = list(iter_documents(io.BytesIO(LIST_OF_THREE.encode()), "c.yaml", caps,
                                 stream_items=True))  # fmt: skip
    assert [(p.item, p.line) for p in parsed] == [(0, 4), (1, 5), (2, 6), (None, 1)]
    assert [p.value for p in parsed[:3]] == [{"kind": "ConfigMap", "data": [0] * 6}] * 3
    assert parsed[3].value == {"apiVersion": "v1", "kind": "List", "items": [], "metadata": {}}
    bigger = LIST_OF_THREE.replace("0, 0, 0]}\n- {", "0, 0, 0, 0]}\n- {", 1)
    with pytest.raises(InputError, match=r"c\.yaml: line 4: an item has more than 11 nodes"):
        list(iter_documents(bigger, "c.yaml", caps, stream_items=True))
    deeper = LIST_OF_THREE.replace("data: [0,", "data: [[0],", 1)
    with pytest.raises(InputError, match=r"c\.yaml: line 4: nesting deeper than 3 levels"):
        list(iter_documents(deeper, "c.yaml", caps, stream_items=True))
