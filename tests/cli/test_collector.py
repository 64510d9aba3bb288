"""main() pauses Python's cyclic garbage collector for a short command and gives it back, as it was."""

from __future__ import annotations

import gc
import time
import weakref

import cli


def test_collector_off_while_short_then_back_as_it_was():
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with cli._collector_paused_while_short():
        assert not gc.isenabled()
        node = _Node()
        node.itself = node  # a cycle made while paused must still be collectable afterwards
        alive = weakref.ref(node)
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    del node
    gc.collect()
    assert alive() is None


class _Node:
    pass


def test_collector_back_on_after_the_grace_period(monkeypatch):
    monkeypatch.setattr(cli, "GC_GRACE_S", 0.2)
    with cli._collector_paused_while_short():
        node = _Node()
        node.itself = node  # garbage made during the grace period must not be frozen with the live objects
        alive = weakref.ref(node)
        del node
        deadline = time.monotonic() + 5.0
        while not gc.isenabled() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gc.isenabled()
        assert alive() is None
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_caller_that_turned_the_collector_off_keeps_it_off():
    gc.disable()
    try:
        with cli._collector_paused_while_short():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
