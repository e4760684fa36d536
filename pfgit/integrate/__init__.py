"""What git calls, or what touches a user's git set-up: the diff and merge drivers, hooks,
`pfgit install`, and the `git merge` wrapper. Thin entry points over the libraries below them;
git plumbing (repositories, objects, refs) lives in `pfgit.git`."""
