"""The bindings' public surface: ``__all__`` is exact, importable and public only."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

PUBLIC = {
    "hotstate_textual": {
        "ClientBinding",
        "HotstateReactive",
        "RowDiff",
        "StatusIndicator",
        "TableSync",
        "bind_client",
        "bind_observable",
        "diff_rows",
        "item_key",
    },
    "hotstate_nicegui": {"HotstateState", "Selection", "bind_client"},
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_all_is_exact_and_every_name_importable(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names)), f"{package}.__all__ has duplicates"
    assert set(names) == PUBLIC[package]
    for name in names:
        assert not name.startswith("_"), f"{package}.__all__ exports private {name!r}"
        value = getattr(module, name)  # importable: a name in __all__ must exist
        assert value.__module__.startswith(package + "."), f"{name} is not {package}'s own"
    star: dict[str, object] = {}
    exec(f"from {package} import *", star)
    assert set(star) - {"__builtins__"} == set(names)


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_nothing_public_is_left_out_of_all(package: str) -> None:
    module = importlib.import_module(package)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)  # its submodules, once imported
        and name != "annotations"  # from __future__ import annotations
    }
    assert public == set(module.__all__)
