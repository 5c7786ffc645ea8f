"""diff_rows: pure tests, no loop, no Textual app."""

from __future__ import annotations

import pytest
from hotstate_textual.rows import RowDiff, diff_rows, item_key
from hypothesis import given
from hypothesis import strategies as st


def apply(table: dict[str, dict], order: list[str], diff: RowDiff) -> list[str]:
    """What a DataTable does with the operations: remove, update in place, append."""
    for k in diff.remove:
        order.remove(k)
        del table[k]
    for k, old, new in diff.update:
        assert table[k] is old
        table[k] = new
    for k, item in diff.append:
        assert k not in table
        table[k] = item
        order.append(k)
    return order


def rec(i: int, text: str = "") -> dict:
    return {"id": i, "text": text or f"t{i}"}


key = item_key("id")


def test_identical_lists_give_no_operations_and_key_nothing() -> None:
    items = [rec(i) for i in range(5)]
    calls: list[object] = []

    def counting(item: dict) -> str:
        calls.append(item)
        return key(item)

    assert not diff_rows(items, list(items), counting)
    assert calls == []


def test_append_keys_only_the_new_item() -> None:
    old = [rec(i) for i in range(1000)]
    new = [*old, rec(1000)]
    calls: list[object] = []

    def counting(item: dict) -> str:
        calls.append(item)
        return key(item)

    assert diff_rows(old, new, counting) == RowDiff(append=(("1000", new[-1]),))
    assert calls == [new[-1]]


def test_update_in_the_middle_is_in_place() -> None:
    old = [rec(i) for i in range(5)]
    new = list(old)
    new[2] = rec(2, "changed")
    assert diff_rows(old, new, key) == RowDiff(update=(("2", old[2], new[2]),))


def test_remove_in_the_middle_touches_no_other_row() -> None:
    old = [rec(i) for i in range(5)]
    new = old[:1] + old[2:]
    assert diff_rows(old, new, key) == RowDiff(remove=("1",))


def test_insert_before_kept_rows_re_appends_the_tail() -> None:
    old = [rec(i) for i in range(4)]
    new = [old[0], rec(9), *old[1:]]
    diff = diff_rows(old, new, key)
    assert diff.remove == ("1", "2", "3")
    assert [k for k, _ in diff.append] == ["9", "1", "2", "3"]


def test_move_re_appends_from_the_first_misplaced_row() -> None:
    old = [rec(i) for i in range(4)]
    new = [old[0], old[2], old[3], old[1]]
    diff = diff_rows(old, new, key)
    assert diff.update == ()
    assert apply(dict(zip("0123", old, strict=True)), list("0123"), diff) == list("0231")


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate row key '1'"):
        diff_rows([], [rec(1), rec(1)], key)


@given(
    st.lists(st.integers(0, 12), unique=True),
    st.lists(st.tuples(st.integers(0, 12), st.booleans()), unique_by=lambda t: t[0]),
)
def test_applying_the_diff_gives_the_new_list(old_ids: list[int], new_spec: list) -> None:
    old = [rec(i) for i in old_ids]
    by_id = {item["id"]: item for item in old}
    # Keep the very same object where asked (and possible), else a new one.
    new = [by_id[i] if same and i in by_id else rec(i, "new") for i, same in new_spec]
    table = {key(item): item for item in old}
    order = apply(table, [key(item) for item in old], diff_rows(old, new, key))
    assert order == [key(item) for item in new]
    assert all(table[key(item)] is item for item in new)
