"""The flow model: reading Prompt flow folders into plain, I/O-free data structures."""
