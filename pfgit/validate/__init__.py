"""Validation of Prompt flow folders: checks grouped by concern, one registry of problem codes.

Library API (the CLI `pfgit validate` is a thin layer over it): see api.py.
"""

from .api import FlowReport, validate_flow, validate_location, validate_path
from .problems import CODES, Problem

__all__ = ["CODES", "FlowReport", "Problem", "validate_flow", "validate_location", "validate_path"]
