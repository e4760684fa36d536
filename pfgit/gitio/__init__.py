"""All git access lives here (dulwich). The git binary is used only where git drives us."""
