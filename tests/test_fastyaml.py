"""The fast manifest dumper writes exactly what PyYAML (gitops.model.dump_one) writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops import fastyaml
from gitops.model import dump_one
from gitops.render import render_environments

ROOT = Path(__file__).resolve().parents[1]

#: Words PyYAML resolves to something other than a string, or treats as indicators.
TRICKY = [
    "", "true", "False", "yes", "off", "null", "~", "0.9", "1e3", "1.5e3", "0x1F", "0o17",
    "017", "1_000", "12:30", "2024-01-01", "=", "<<", "---", "...", "-", "- a", "?", ":",
    "a:", "a: b", "a:b", ":a", "-a", "--model", "#x", "a #b", "a#b", "@x", "x@y", "'q'",
    'say "hi"', " lead", "trail ", "two  spaces", "tab\tx", "line\nbreak", "é", ".inf",
    "NaN", "+1", "-1", "1.", "v0.8.5", "vllm:num_requests_waiting", "nvidia.com/gpu",
    "*", "&a", "!tag", "%x", "`x", "{a}", "[a]", "a,b", "|", ">", "100Gi", "16384",
]  # fmt: skip
ALPHABET = "abc019 :-#'\"@,?.~/_=+é\n{}[]!&*%|>"

keys = st.one_of(st.sampled_from(TRICKY), st.text(ALPHABET, max_size=12), st.just("k" * 120))
strings = st.one_of(
    st.sampled_from(TRICKY),
    st.text(ALPHABET, max_size=20),
    st.text("ab ", min_size=60, max_size=120),  # long strings with spaces: PyYAML may fold
)
scalars = st.one_of(strings, st.integers(), st.booleans(), st.none(), st.floats())
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, documents, max_size=6))
def test_any_document_is_dumped_as_pyyaml_dumps_it(document: dict[str, Any]) -> None:
    assert fastyaml.dump(document) == dump_one(document)


# Mostly what the fast path writes itself: words with spaces near the folding width.
plain_text = st.text("ab1:-./@, ", min_size=1, max_size=90)
plain_documents = st.recursive(
    st.one_of(plain_text, st.integers(), st.booleans(), st.none()),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text("ab-./", min_size=1, max_size=30), children, max_size=4),
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text("ab-./", min_size=1, max_size=30), plain_documents, max_size=5))
def test_plain_documents_near_the_width_are_dumped_as_pyyaml_dumps_them(
    document: dict[str, Any],
) -> None:
    assert fastyaml.dump(document) == dump_one(document)


def test_shared_containers_keep_pyyaml_anchors() -> None:
    shared = [{"podSelector": {}}]
    document = {"ingress": [{"from": shared}], "egress": [{"to": shared}]}
    assert "&id001" in fastyaml.dump(document)
    assert fastyaml.dump(document) == dump_one(document)


@pytest.mark.parametrize("document", [[1, 2], "text", None, {}, {"a": (1, 2)}, {"a": 1.5}])
def test_other_documents_are_left_to_pyyaml(document: Any) -> None:
    assert fastyaml.dump(document) == dump_one(document)


def test_the_example_renders_byte_identical_files() -> None:
    rendered = render_environments(ROOT / "blueprints", ROOT / "environments")
    for manifests in rendered.values():
        for obj in manifests:
            assert fastyaml.dump_bytes(obj) == dump_one(obj).encode(), obj["metadata"]["name"]


def test_nested_block_layout_matches_pyyaml() -> None:
    document = {
        "spec": {
            "containers": [
                {"name": "engine", "args": ["--model", "org/m", "0.9"], "ports": [{"p": 8000}]}
            ],
            "matrix": [[1, 2], [], [{}]],
            "empty": {},
        }
    }
    text = fastyaml.dump(document)
    assert text == dump_one(document)
    assert "  - name: engine\n    args:\n    - --model\n" in text
