"""git plumbing: repositories, revisions, objects, refs, worktree capture, remotes (dulwich; the git
binary only for transport and git's own text merge). What git calls, or what changes a user's git
set-up, lives in `pfgit.integrate`."""

from .trees import install as _refuse_duplicate_entries

_refuse_duplicate_entries()   # every tree read through dulwich: see pfgit/git/trees.py
