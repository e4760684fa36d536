"""Semantic history of a flow: `pfgit log --node` and `pfgit blame` (docs/history.md).

steps.py walks commits, following a flow folder that moved; versions.py reads and summarises a
flow version (objects through git's plumbing, pfgit/git/batch.py); delta.py is the semantic
change between two versions (pfgit.diff) and which fields it touches; walk.py ties them to the
cache in the run index and passes "suspects" (fields, lines, a node name) from a commit to its
parents; blame.py and nodelog.py answer the questions; render.py prints; command.py is the light
CLI entry; cached.py answers a repeated question from the index without the rest.
"""
