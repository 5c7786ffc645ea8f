"""The public RFC 6902 test suite (vendored in tests/json_patch_tests/) against apply_patches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hotstate_rx.draft import apply_patches
from hotstate_rx.errors import PatchError
from hotstate_rx.frozen import freeze

HERE = Path(__file__).parent / "json_patch_tests"


def cases() -> list[Any]:
    out = []
    for name in ("tests.json", "spec_tests.json"):
        for i, case in enumerate(json.loads((HERE / name).read_text())):
            if "doc" not in case:  # a comment-only record
                continue
            marks = []
            if case.get("disabled"):  # e.g. duplicate "op" members, not representable in a dict
                marks.append(pytest.mark.skip(reason="disabled in the suite"))
            label = f"{name}[{i}] {case.get('comment') or case.get('error') or ''}"[:90]
            out.append(pytest.param(case, id=label, marks=marks))
    return out


@pytest.mark.parametrize("case", cases())
def test_suite(case: dict[str, Any]) -> None:
    doc = freeze(case["doc"])
    before = json.dumps(doc, sort_keys=True)
    if "error" in case:
        with pytest.raises(PatchError):
            apply_patches(doc, case["patch"])
    else:
        result = apply_patches(doc, case["patch"])
        assert json.dumps(result, sort_keys=True) == json.dumps(case["expected"], sort_keys=True)
    assert json.dumps(doc, sort_keys=True) == before
