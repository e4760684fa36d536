"""The cloud studio round trip: flow zips in and out of git, and a run's exact flow on disk.

safezip   reading an untrusted zip into memory, refusing anything unsafe (docs/studio.md)
files     flow folders as {path: (mode, bytes)}: from a zip, the worktree or a git tree
base      which earlier version of the flow a studio zip started from
zipimport import-zip: three-way merge of the zip into the worktree, import ref, backup
zipexport export-zip: a reproducible zip of a flow folder (worktree, revision or run)
checkout  checkout-run: the flow folder a run used, written to a new folder
"""
