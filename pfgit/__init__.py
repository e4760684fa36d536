"""pfgit: git-native versioning and collaboration for Prompt flow folders."""

__version__ = "0.1.0"
