"""One module per view; the main window only wires them together."""
