"""Tests for blueprint loading: Python modules and YAML stack specs, and their failures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gitops.constructs.base import Scope
from gitops.core.errors import InputError, RenderError, ValidationError
from gitops.inputs.blueprints import load_blueprints
from gitops.inputs.environments import Environment, load_environment

FIXTURES = Path(__file__).parent / "fixtures" / "tiny"

STACK = """\
kind: InferenceStack
name: small
model: org/small-model
image: registry.example.com/vllm/vllm-openai:v0.8.5
cache: {size: 20Gi}
"""


@pytest.fixture
def env(project_root: Path) -> Environment:
    return load_environment(project_root / "environments" / "dev.yaml")


def test_example_blueprints_load_sorted_by_name(project_root: Path) -> None:
    names = [b.name for b in load_blueprints(project_root / "blueprints")]
    assert names == ["embeddings", "llama-405b", "llama-70b", "llama-8b-chat", "qwen-coder"]


def test_python_blueprint_adds_constructs(env: Environment, tmp_path: Path) -> None:
    (blueprint,) = load_blueprints(FIXTURES / "blueprints")
    scope = Scope(namespace="apps", blueprint=blueprint.name, environment=env.name)
    blueprint.apply(scope, env)
    (config,) = scope.synth()
    assert config["data"] == {"environment": "dev", "action": "Audit"}
    assert config["metadata"]["annotations"]["gitops.dev/blueprint"] == "web"


def test_python_blueprint_module_is_not_left_in_sys_modules() -> None:
    load_blueprints(FIXTURES / "blueprints")
    assert not [name for name in sys.modules if name.startswith("_gitops_blueprint_")]


def test_yaml_spec_renders_an_inference_stack(env: Environment, tmp_path: Path) -> None:
    (tmp_path / "small.yaml").write_text(STACK)
    (blueprint,) = load_blueprints(tmp_path)
    scope = Scope(namespace="inference", blueprint="small", environment="dev")
    blueprint.apply(scope, env)
    kinds = {m["kind"] for m in scope.synth()}
    assert {"StatefulSet", "Service"} <= kinds


def test_yaml_spec_with_unknown_parameter_names_file_and_key(
    env: Environment, tmp_path: Path
) -> None:
    (tmp_path / "small.yaml").write_text(STACK + "gpu_count: 2\n")
    (blueprint,) = load_blueprints(tmp_path)
    with pytest.raises(
        RenderError, match=r"^\S*small\.yaml: InferenceStack 'small': .*'gpu_count'"
    ):
        blueprint.apply(Scope(), env)


def test_yaml_spec_with_unknown_kind_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "odd.yaml").write_text("kind: Frobnicator\nname: x\n")
    with pytest.raises(InputError, match=r"odd\.yaml: unknown kind 'Frobnicator'"):
        load_blueprints(tmp_path)


def test_yaml_spec_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "odd.yaml").write_text("- kind: InferenceStack\n")
    with pytest.raises(InputError, match=r"odd\.yaml: expected a mapping"):
        load_blueprints(tmp_path)


def test_python_blueprint_without_entry_point_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_text("X = 1\n")
    with pytest.raises(InputError, match=r"empty\.py: expected a function 'def blueprint"):
        load_blueprints(tmp_path)


def test_python_blueprint_failing_on_import_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import no_such_module_here\n")
    with pytest.raises(InputError, match=r"broken\.py: loading the blueprint raised"):
        load_blueprints(tmp_path)


def test_blueprint_raising_is_a_render_error_naming_the_file(
    env: Environment, tmp_path: Path
) -> None:
    (tmp_path / "boom.py").write_text("def blueprint(scope, env):\n    raise KeyError('gpu')\n")
    (blueprint,) = load_blueprints(tmp_path)
    with pytest.raises(
        RenderError, match=r"boom\.py: blueprint raised KeyError for environment dev"
    ):
        blueprint.apply(Scope(), env)


def test_two_files_with_one_blueprint_name_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "web.py").write_text("def blueprint(scope, env):\n    pass\n")
    (tmp_path / "web.yaml").write_text(STACK)
    with pytest.raises(InputError, match=r"web\.yaml: blueprint name 'web' is also used by"):
        load_blueprints(tmp_path)


def test_blueprint_file_name_must_be_a_dns_label(tmp_path: Path) -> None:
    (tmp_path / "Web_App.py").write_text("def blueprint(scope, env):\n    pass\n")
    with pytest.raises(ValidationError, match=r"Web_App\.py: blueprint name"):
        load_blueprints(tmp_path)


def test_helper_files_starting_with_underscore_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "_helpers.py").write_text("raise SystemExit('must not be imported')\n")
    (tmp_path / "web.py").write_text("def blueprint(scope, env):\n    pass\n")
    assert [b.name for b in load_blueprints(tmp_path)] == ["web"]


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no blueprints"):
        load_blueprints(tmp_path)
