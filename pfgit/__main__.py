from pfgit.cli.main import run

run()
