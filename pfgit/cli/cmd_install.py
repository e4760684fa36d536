"""`pfgit install [--uninstall] [--global] [--json]`: pfgit as git's merge/diff driver (docs/merge.md)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("install")
    def install(
        uninstall: bool = typer.Option(False, "--uninstall", help="Remove exactly what install added."),
        global_: bool = typer.Option(False, "--global", help="For every repository of this user."),
        json_out: bool = typer.Option(False, "--json", help="Print what was done as JSON."),
    ) -> None:
        """Register pfgit as the merge and diff driver for flow.dag.yaml (and git hooks).

        Adds `.gitattributes` lines (commit them to share), local git config naming this Python,
        and hooks chained after existing ones. Idempotent.
        """
        from ..integrate import install as inst

        scope = "global" if global_ else "local"
        report = inst.uninstall(".", scope) if uninstall else inst.install(".", scope)
        if json_out:
            from ..output import emit_json

            emit_json(report.to_json())
            return
        _print(report, uninstall)


def _print(r, uninstall: bool) -> None:
    if uninstall:
        for ln in r.removed_lines:
            print(f"removed from {r.attributes_file}: {ln}")
        for key in r.config_unset:
            print(f"unset {r.scope} git config {key}")
        if r.hooks:
            print(f"git hooks removed: {', '.join(r.hooks)}")
        if not (r.removed_lines or r.config_unset or r.hooks):
            print("nothing to remove")
        return
    for ln in r.added_lines:
        print(f"added to {r.attributes_file}: {ln}")
    for ln in r.kept_lines:
        print(f"kept your line in {r.attributes_file}: {ln} (pfgit not set for it)")
    for key, value in r.config_set.items():
        print(f"set {r.scope} git config {key} = {value}")
    for key, value in r.config_kept.items():
        print(f"kept your git config {key} = {value}")
    if not (r.added_lines or r.config_set):
        print("pfgit is already installed" + (" (hooks refreshed)" if r.hooks else ""))
    elif r.hooks:
        print(f"git hooks installed (chained after existing ones): {', '.join(r.hooks)}")
    if r.hooks_not_installed:
        print(f"git hooks not installed: core.hooksPath is {r.hooks_dir}, {r.hooks_where}, which "
              "pfgit never rewrites. To run pfgit's hooks, add to each:")
        for name, line in r.hooks_not_installed.items():
            print(f"  {name}: {line}")
