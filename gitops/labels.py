"""Names the stages share to recognise the tool's own objects: one definition each.

The diff (which ownership marks to ignore), ownership (the ApplySet identity) and the
cluster client (server-side apply) all need the same label and field manager; defining
them here keeps a second copy from drifting.
"""

#: ApplySet membership label (KEP-3659): the environment identity an object belongs to.
PART_OF_LABEL = "applyset.kubernetes.io/part-of"
#: The tool's server-side apply field manager.
FIELD_MANAGER = "gitops"
