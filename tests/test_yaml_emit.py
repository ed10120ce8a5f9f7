"""The direct YAML writer gives PyYAML's bytes for every document (property tests)."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from gitops.core import yaml_io as model
from gitops.core.yaml_emit import BlockEmitter

# Characters and words where libyaml's quoting, folding and the resolvers differ.
_TRICKY = st.sampled_from(
    ["y", "n", "N", "yes", "Off", "true", "null", "~", "", " ", "0o17", "017", "0x1F", "1e3",
     "1_000", "12:30", "2024-01-01", ".5", "-", "- x", "--port=8000", "? x", ":x", "a: b",
     "a #b", "a#b", "#x", "'", '"', "---", "...x", "<<", "=", "!x", "&a", "*a", "%", "@",
     "`", "a,b", "[x]", "{x}", "x:", "é", "\t", "\n", "a\nb", "a\n\nb\n", " lead", "trail ",
     "a  b", "\x85", "\u2028", "\x00"]
)  # fmt: skip
_WORD = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
_CHARS = st.text(st.characters(codec="utf-8"), max_size=10)
_STRINGS = st.one_of(
    _TRICKY,
    _WORD,
    _CHARS,
    st.lists(st.one_of(_TRICKY, _WORD), max_size=30).map(" ".join),  # folded at 80 columns
    st.lists(st.one_of(_TRICKY, _WORD), max_size=8).map("\n".join),
)
_SCALARS = st.one_of(
    _STRINGS,
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
_KEYS = st.one_of(_TRICKY, _WORD, _CHARS, st.text(min_size=120, max_size=140))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=40,
)
_DOCUMENTS = st.one_of(st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=6), _VALUES)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCUMENTS)
def test_the_writer_gives_pyyamls_bytes(document: Any) -> None:
    assert model.dump_one(document) == model._pyyaml_one(document)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 12), st.lists(st.one_of(_TRICKY, _WORD), min_size=1, max_size=30))
def test_long_strings_fold_as_pyyaml_folds_them_at_any_depth(depth: int, words: list[str]) -> None:
    text = " ".join(words)
    inner: Any = {"message": text, "list": [text, [text]], "rules": [{"expression": text}]}
    for _ in range(depth):
        inner = {"spec": inner}
    assert model.dump_one(inner) == model._pyyaml_one(inner)


def test_plain_data_never_reaches_pyyaml() -> None:
    calls: list[Any] = []

    def fallback(document: Any) -> str:
        calls.append(document)
        return ""

    emitter = BlockEmitter(model._Dumper.yaml_implicit_resolvers, fallback)
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "vllm", "labels": {"team": "a", "y": "n"}, "annotations": {}},
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"args": ["--port", "8000", "true"],
                                                   "env": [], "ratio": 0.5, "x": None}]}},
        },
    }  # fmt: skip
    text = emitter.dump(manifest)
    assert calls == []
    assert text == model._pyyaml_one(manifest)
    assert "'8000'" in text and "'true'" in text and "'y': 'n'" in text
