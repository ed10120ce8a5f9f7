"""The one error tree of the library.

Every error the library raises on purpose derives from :class:`GitOpsError`; the CLI
catches only that root, prints its message on one line and exits 2. Messages name the
file or object, the field, what was expected and what was found. They never carry a
Secret's value.
"""

from __future__ import annotations


class GitOpsError(Exception):
    """Root of every error this library raises on purpose."""


class ValidationError(GitOpsError):
    """A construct, environment or blueprint argument is invalid."""


class InputError(GitOpsError):
    """An input file (YAML, blueprint, manifest) cannot be read or is malformed."""


class RenderError(GitOpsError):
    """Rendering failed: duplicate objects, unsafe paths, a blueprint that raised."""


class PolicyError(GitOpsError):
    """A policy cannot be compiled or a Deny guardrail was violated."""


class RepositoryError(GitOpsError):
    """The Git repository cannot be read or written as asked."""


class ClusterError(GitOpsError):
    """The cluster could not be reached or refused a request."""


class StackWarning(UserWarning):
    """A valid but probably wrong parameter (e.g. a tensor parallel degree that divides no
    common attention-head count); rendering goes on."""
