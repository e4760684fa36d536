"""Semantic three-way merge of flow files: match -> decide -> validate -> render.

Pure but for the fallback: the git binary parts live elsewhere, in pfgit.integrate.gitmerge
(`pfgit merge BRANCH`), pfgit.integrate.mergedriver (git's entry point) and pfgit.git.textmerge
(git's line merge as the fallback).

- decide.py     three-way merge of the data: decisions, Conflict units (renames via pfgit.diff.match)
- check.py      post-merge validation: problems the merge created become conflicts
- layout.py     where every value sits in a text (lines, columns, style)
- apply.py      the merged data written as ours' text with their changes spliced in
- emit.py       new YAML lines in a file's indentation style
- conflicts.py  git-style markers around one unit; reading them back by node
- files.py      bytes in/bytes out (BOM, CRLF, fallback to git's line merge): the driver's library
- report.py     printing reports and `pfgit conflicts`
"""
