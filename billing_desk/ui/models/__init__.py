"""Thin table models (vorta style): COL_* constants, a sort role with native values, an object
role returning the row, `set_rows()` resetting. Tested without widgets."""

from PySide6.QtCore import Qt

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
OBJECT_ROLE = Qt.ItemDataRole.UserRole + 2
