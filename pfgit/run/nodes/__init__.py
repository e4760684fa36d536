"""Node kinds of the built-in engine: python (tools), prompt (Jinja), llm (Jinja + pfgit.run.llm)."""
