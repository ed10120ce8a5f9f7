"""The Git writer and reader: the only package that imports pygit2.

Writing (:func:`commit_tree`): blobs and trees go straight into the object database
through an in-memory index; one commit per call; the branch moves by compare-and-swap.

- Ownership: the paths the tool generated are listed in the tree itself, in
  ``.gitops/generated.json``. A path is removed only if it was generated and is no longer
  produced; every other file is never touched; writing a path that holds a foreign file is
  a :class:`RepositoryError`.
- Compare-and-swap: the change is computed as a delta against the branch head seen first
  (paths to write, generated paths to remove), then applied onto the current head. The
  branch moves with libgit2's checked reference update (it takes ``refs/heads/<b>.lock``
  and fails if the branch no longer points at the head the commit was built on); on
  failure the delta is re-applied onto the new head, up to ``attempts`` times, so
  concurrent writers never lose each other's changes and history stays linear.
- Working tree: when the repository is not bare and ``HEAD`` is the branch, the working
  tree and index are brought to the new head only if they are clean (the index holds a
  commit of the branch and no tracked file is modified); otherwise they are left alone.
  A symbolic link in the working tree on a generated path (which could make a write land
  outside the repository) is refused before anything is written.
"""

from gitops.repo.commit import DEFAULT_AUTHOR, DEFAULT_TITLE, CommitResult, commit_tree, identity
from gitops.repo.read import push, read_files

__all__ = [
    "DEFAULT_AUTHOR",
    "DEFAULT_TITLE",
    "CommitResult",
    "commit_tree",
    "identity",
    "push",
    "read_files",
]
