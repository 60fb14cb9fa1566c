"""The collector skips what a run starts with, and gets it back afterwards (core/collector.py)."""

from __future__ import annotations

import gc
import weakref

import pytest

from core.collector import start_frozen


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector can free it


def test_objects_of_the_start_are_skipped_during_the_block_and_collected_after_it() -> None:
    gc.collect()
    node = Node()
    gone = weakref.ref(node)
    with start_frozen():
        assert gc.get_freeze_count() > 0
        del node  # garbage now, but frozen: a full collection does not look at it
        gc.collect()
        assert gone() is not None
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None  # back with the collector: no cycle of the start is kept for good


def test_objects_made_during_the_block_are_collected_as_usual() -> None:
    with start_frozen():
        node = Node()
        gone = weakref.ref(node)
        del node
        gc.collect()
        assert gone() is None


def test_an_error_in_the_block_unfreezes_too() -> None:
    with pytest.raises(RuntimeError), start_frozen():
        raise RuntimeError("the run failed")
    assert gc.get_freeze_count() == 0
