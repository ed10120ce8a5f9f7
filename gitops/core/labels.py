"""Every label, annotation and field manager the stages share, and provenance: one each.

Constructs stamp the provenance annotations and the managed-by value; layout, policy
messages and the Secret check read them back (:func:`provenance`). The diff (which
ownership marks to ignore), ownership (the ApplySet identity) and the cluster client
(server-side apply) need the same label and field manager. Defining them here keeps a
second copy from drifting and lets every stage depend on :mod:`gitops.core` alone.
"""

from __future__ import annotations

from gitops.core.keys import Manifest

#: ApplySet membership label (KEP-3659): the environment identity an object belongs to.
PART_OF_LABEL = "applyset.kubernetes.io/part-of"
#: The tool's server-side apply field manager.
FIELD_MANAGER = "gitops"

#: Annotation naming the construct path that produced an object.
ANNOTATION_CONSTRUCT_PATH = "gitops.dev/construct-path"
#: Annotation naming the blueprint that produced an object.
ANNOTATION_BLUEPRINT = "gitops.dev/blueprint"
#: Annotation naming the environment an object was rendered for.
ANNOTATION_ENVIRONMENT = "gitops.dev/environment"
#: Value of ``app.kubernetes.io/managed-by`` on every object the constructs render.
MANAGED_BY = "gitops"


def provenance(obj: Manifest) -> str:
    """A one-line description of where an object came from, for error messages."""
    annotations = obj.get("metadata", {}).get("annotations", {}) or {}
    parts = [
        f"{label} {annotations[key]}"
        for label, key in (
            ("blueprint", ANNOTATION_BLUEPRINT),
            ("environment", ANNOTATION_ENVIRONMENT),
            ("construct", ANNOTATION_CONSTRUCT_PATH),
        )
        if annotations.get(key)
    ]
    return ", ".join(parts) or "unknown source"


#: Per-object ownership hash: the identity and the object's own key.
OWNER_ANNOTATION = "gitops.dev/owner"
#: Readable mark of an object that existed before gitops applied it (never pruned).
ADOPTED_ANNOTATION = "gitops.dev/adopted"
#: Annotation opting one object out of pruning (value ``disabled``).
PRUNE_ANNOTATION = "gitops.dev/prune"
#: Argo CD's sync options annotation; ``Prune=false`` opts out of pruning there too.
ARGOCD_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
