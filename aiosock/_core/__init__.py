"""Core layer: protocol glue per loop and the server lifecycle."""
