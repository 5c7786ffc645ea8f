"""The bindings' public surface: ``__all__`` is exact, importable and public only."""

from __future__ import annotations

import importlib
import subprocess
import sys
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


@pytest.mark.parametrize(
    ("package", "needs", "extra"),
    [("hotstate_textual", "textual", "textual"), ("hotstate_nicegui", "nicegui", "nicegui")],
)
def test_a_missing_ui_library_is_named_with_the_extra_to_install(
    package: str, needs: str, extra: str
) -> None:
    """In a fresh interpreter where ``needs`` cannot be imported (None in sys.modules)."""
    code = (
        f"import sys; sys.modules[{needs!r}] = None\n"
        f"try:\n    import {package}\n"
        "except ModuleNotFoundError as exc:\n    print(exc.name, '|', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.startswith(f"{needs} | {package} needs ")
    assert out.rstrip().endswith(f"not installed: pip install 'hotstate-rx[{extra}]'")
