"""Message ids and the one-outstanding-call rule, without sockets."""

from __future__ import annotations

import pytest

from ocppj.calls import CallInProgress, MessageIds, Outstanding, RecentIds


def test_ids_are_unique_short_and_prefixed() -> None:
    ids = MessageIds("ab12cd-")
    made = [ids.next() for _ in range(1000)]
    assert len(set(made)) == 1000
    assert made[0] == "ab12cd-1" and all(len(i) <= 36 for i in made)
    assert MessageIds().next() == "1"


def test_one_call_outstanding_at_a_time() -> None:
    slot: Outstanding[str] = Outstanding()
    pending = slot.begin("1", "Reset", "waiter")
    assert (pending.message_id, pending.action, pending.waiter) == ("1", "Reset", "waiter")
    with pytest.raises(CallInProgress):
        slot.begin("2", "ClearCache", "other")
    assert slot.end() is pending
    assert slot.begin("2", "ClearCache", "other").action == "ClearCache"


def test_an_answer_matches_only_the_outstanding_call() -> None:
    slot: Outstanding[None] = Outstanding()
    assert slot.match("1") is None  # nothing outstanding: an unexpected answer
    pending = slot.begin("1", "Reset", None)
    assert slot.match("1") is pending
    assert slot.match("2") is None  # another id
    assert slot.match(None) is None  # an id that could not be read
    slot.end()
    assert slot.match("1") is None  # too late: the call is over (timed out, say)
    assert slot.end() is None


def test_a_repeated_id_is_noticed_within_the_window() -> None:
    recent = RecentIds(size=3)
    assert [recent.repeated(i) for i in ("a", "b", "a")] == [False, False, True]
    for i in ("c", "d", "e"):
        recent.repeated(i)
    assert recent.repeated("a") is False  # forgotten: only the last few are kept
