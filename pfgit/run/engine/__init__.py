"""Engines: the built-in one (plan.py prepares a flow, dag.py runs lines of a DAG flow, flex.py and
prompty.py the other flow kinds) and promptflow.py (the installed promptflow); select.py chooses."""
