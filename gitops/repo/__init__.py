"""The Git writer and reader: the only package that imports pygit2.

:func:`commit_tree` writes one commit per call with compare-and-swap on the branch (see
:mod:`gitops.repo.commit`), refreshing a clean working tree (:mod:`gitops.repo.worktree`);
:func:`read_files` reads the tree at a ref and :func:`push` pushes a branch
(:mod:`gitops.repo.read`).
"""

from gitops.repo.commit import DEFAULT_AUTHOR, DEFAULT_TITLE, CommitResult, commit_tree, identity
from gitops.repo.read import push, read_files, subdirectories

__all__ = [
    "DEFAULT_AUTHOR",
    "DEFAULT_TITLE",
    "CommitResult",
    "commit_tree",
    "identity",
    "push",
    "read_files",
    "subdirectories",
]
