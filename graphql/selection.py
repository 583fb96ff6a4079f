"""Look-ahead into the query, so a list resolver can load in one statement what its rows will need."""

from collections.abc import Sequence

from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection


def selects(info: Info, path: Sequence[str]) -> bool:
    """Whether the current field's selection reaches ``path`` (field names), through any fragments."""
    return any(_selects(field.selections, path) for field in info.selected_fields)


def _selects(selections: Sequence[Selection], path: Sequence[str]) -> bool:
    head, *rest = path
    for selection in selections:
        if not isinstance(selection, SelectedField):
            if _selects(selection.selections, path):
                return True
        elif selection.name == head and (not rest or _selects(selection.selections, rest)):
            return True
    return False
