"""The desktop app (PySide6): the only package that imports Qt."""

from billing_desk.ui import pyside_fix

__all__ = ["pyside_fix"]
