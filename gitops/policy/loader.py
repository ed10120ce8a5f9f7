"""Read admission policies (ValidatingAdmissionPolicy, bindings, Kyverno policies) and values.

The only module of :mod:`gitops.policy` that does I/O.
"""

from __future__ import annotations

from pathlib import Path

from gitops.core.errors import InputError
from gitops.core.keys import Manifest, key_of
from gitops.core.yaml_io import load_yaml_all, read_capped
from gitops.policy.kyverno_values import Values

#: Kinds a policy file may hold.
POLICY_KINDS = frozenset(
    {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ClusterPolicy", "Policy"}
)


def load_policies(path: Path) -> list[Manifest]:
    """Load the policies in a YAML file, or in every ``*.yaml``/``*.yml`` file under a directory.

    Files are read in sorted path order, so the result is deterministic.

    Raises:
        InputError: the path does not exist, a file is not valid YAML, or a document is
            not a policy (file and document named).
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise InputError(f"{path}: no such policy file or directory")
    policies: list[Manifest] = []
    for file in files:
        for index, document in enumerate(load_yaml_all(read_capped(file), str(file))):
            key = key_of(document, f"{file}: document {index + 1}")
            if key.kind not in POLICY_KINDS:
                raise InputError(
                    f"{file}: document {index + 1}: expected a ValidatingAdmissionPolicy, "
                    f"ValidatingAdmissionPolicyBinding, ClusterPolicy or Policy, got {key.kind}"
                )
            policies.append(document)
    return policies


def load_values(path: Path) -> Values:
    """Load a Kyverno CLI ``Values`` file (``--values``): one YAML document.

    Raises:
        InputError: the file does not exist, is not YAML, or is not one Values mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such values file")
    documents = [d for d in load_yaml_all(read_capped(path), str(path)) if d is not None]
    if len(documents) != 1:
        raise InputError(f"{path}: expected one Values document, found {len(documents)}")
    return Values.from_document(documents[0], str(path))
