"""`pfgit connection create | list | show | delete`: connections kept in the user's config folder."""

from __future__ import annotations

import sys

import typer


def rewrite_argv(args: list, longs=()) -> list:
    """pf's spellings: `--set k=v k2=v2` after one flag, abbreviated options (pfgit.run.argv)."""
    from ..run.argv import expand_abbreviations, expand_multi

    return expand_multi(expand_abbreviations(args, longs), flags=("--set",))


def _one_name(name, name_opt) -> str:
    """NAME, or pf's `--name NAME` / `-n NAME`."""
    from ..errors import UsageError

    if (name is None) == (name_opt is None):
        raise UsageError("give the connection's name: NAME or --name NAME")
    return name if name is not None else name_opt


def _print_conn(d: dict) -> None:
    import yaml

    sys.stdout.write(yaml.safe_dump(d, sort_keys=False, allow_unicode=True))


def register(app: typer.Typer) -> None:
    conn = typer.Typer(help="Connections used by LLM and python nodes (stored outside the repo, mode 0600).",
                       no_args_is_help=True)
    app.add_typer(conn, name="connection")

    @conn.command("create")
    def create(file: str = typer.Option(..., "--file", "-f", help="promptflow connection YAML."),
               sets: list[str] = typer.Option([], "--set", help="KEY=VALUE overrides, several after one flag as pf (secrets.KEY=... for custom)."),
               name: str = typer.Option(None, "--name", "-n", help="Connection name (overrides the file's)."),
               json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Create or update a connection from promptflow's connection YAML."""
        from ..output import emit_json
        from ..run.connections import ConnectionStore, load_file

        c = load_file(file, list(sets) + ([f"name={name}"] if name else []))
        path = ConnectionStore().save(c)
        if json_out:
            emit_json({**c.masked(), "path": path})
        else:
            print(f"connection '{c.name}' ({c.type}) saved to {path}")

    @conn.command("list")
    def list_(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List connections: pfgit's, then promptflow's local ones."""
        from ..output import emit_json
        from ..run.connections import ConnectionStore, hide_url_password

        conns = ConnectionStore().list()
        if json_out:
            emit_json([{**c.masked(), "source": c.source} for c in conns])
            return
        if not conns:
            print("no connections (pfgit connection create --file conn.yaml)")
        for c in conns:
            where = hide_url_password(c.configs.get("base_url") or c.configs.get("api_base")
                                      or c.configs.get("endpoint") or "")
            print(f"{c.name:24} {c.type:16} {c.source:10} {where}".rstrip())

    @conn.command("show")
    def show(name: str = typer.Argument(None, help="Connection name."),
             name_opt: str = typer.Option(None, "--name", "-n", help="The name, as pf spells it."),
             json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Show a connection, secrets masked."""
        from ..output import emit_json
        from ..run.connections import ConnectionStore, pf_connection_types

        name = _one_name(name, name_opt)
        store = ConnectionStore()
        if name not in store.names() and name in pf_connection_types():
            from ..run.connections import Connection, type_key

            c = Connection(name, type_key(pf_connection_types()[name]), {}, source="promptflow")
        else:
            c = store.get(name)
        d = {**c.masked(), "source": c.source}
        emit_json(d) if json_out else _print_conn(d)

    @conn.command("delete")
    def delete(name: str = typer.Argument(None, help="Connection name."),
               name_opt: str = typer.Option(None, "--name", "-n", help="The name, as pf spells it."),
               json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Delete one of pfgit's connections (promptflow's are left to `pf connection delete`)."""
        from ..errors import EXIT_NO
        from ..output import emit_json
        from ..run.connections import ConnectionStore

        name = _one_name(name, name_opt)
        ok = ConnectionStore().delete(name)
        if json_out:
            emit_json({"name": name, "deleted": ok})
        elif ok:
            print(f"connection '{name}' deleted")
        else:
            print(f"pfgit: no connection '{name}'", file=sys.stderr)
        if not ok:
            raise typer.Exit(EXIT_NO)
