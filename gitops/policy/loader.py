"""Read admission policies (ValidatingAdmissionPolicy, bindings, Kyverno ClusterPolicy) from files.

The only module of :mod:`gitops.policy` that does I/O.
"""

from __future__ import annotations

from pathlib import Path

from gitops.errors import InputError
from gitops.model import Manifest, key_of, load_yaml_all, read_capped

#: Kinds a policy file may hold.
POLICY_KINDS = frozenset(
    {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ClusterPolicy"}
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
                    f"ValidatingAdmissionPolicyBinding or ClusterPolicy, got {key.kind}"
                )
            policies.append(document)
    return policies
