"""``scan_values``: the repositories' one reader of a whole prefix, page after page."""

from __future__ import annotations

from tidegate.store.base import StateStore, scan_values


async def test_scan_values_reads_every_page_in_key_order(store: StateStore) -> None:
    for n in range(5):
        await store.put(f"scan:a:{n}", f"v{n}".encode())
    await store.put("scan:b:0", b"other prefix")

    values = [value async for value in scan_values(store, "scan:a:", page_size=2)]

    assert values == [b"v0", b"v1", b"v2", b"v3", b"v4"]


async def test_scan_values_of_an_empty_prefix_is_empty(store: StateStore) -> None:
    assert [value async for value in scan_values(store, "scan:none:", page_size=2)] == []
