"""Per-host slots on their own, with explicit clock times: the rules the engine follows."""
from __future__ import annotations

from archiver.capture.politeness import HostSlots


def test_a_slot_keeps_its_concurrency_and_delay():
    slots = HostSlots(concurrency=2, delay=1.0)
    a = slots["a:80"]
    assert a.ready(0.0)
    a.start(0.0)
    assert not a.ready(0.5) and a.ready(1.0)  # one second between starts
    a.start(1.0)
    assert not a.ready(5.0)  # two in flight: full, however long ago they started
    a.finish()
    assert a.ready(5.0) and a.active == 1 and a.host == "a:80"
    assert slots.blocked(1.5) == {"a:80"} and slots.blocked(2.0) == set()


def test_hosts_are_independent_and_the_nearest_free_time_is_known():
    slots = HostSlots(concurrency=1, delay=2.0)
    slots["a:80"].start(0.0)
    slots["a:80"].finish()
    slots["b:80"].start(1.0)
    slots["b:80"].finish()
    assert slots.next_free(1.0) == 1.0  # a is free at 2.0, b at 3.0
    assert slots.next_free(2.0) == 1.0  # a is free at 2.0 itself: only b waits
    assert slots.next_free(5.0) is None  # nobody waits for time
    slots["c:80"].start(4.0)  # c is busy (not waiting for time, but for its answer)
    assert slots.next_free(4.5) is None


def test_a_crawl_delay_raises_the_gap_after_the_request_that_fetched_it():
    slots = HostSlots(concurrency=2, delay=0.25)
    a = slots["a:80"]
    a.start(10.0)  # robots.txt
    a.robots_pending = True
    assert not a.ready(20.0)  # nothing but robots.txt until its rules are known
    a.finish()
    a.robots_pending = False
    a.delay = 5.0  # its Crawl-delay
    assert not a.ready(14.9) and a.ready(15.0)


def test_a_rest_holds_the_host_whatever_its_delay():
    slots = HostSlots(concurrency=4, delay=0.0)
    a = slots["a:80"]
    a.start(0.0)
    a.finish()
    a.rest(30.0)
    a.rest(10.0)  # a shorter rest never shortens a longer one
    assert not a.ready(29.9) and a.ready(30.0)
    assert slots.next_free(20.0) == 10.0


def test_a_standby_is_kept_only_without_a_delay_and_handed_on_in_order():
    slots = HostSlots(concurrency=2, delay=0.0)
    a = slots["a:80"]
    a.start(0.0)
    assert not a.takes_standby(0.0)  # a place is free: the URL starts there (or waits its turn with other hosts)
    a.start(0.0)
    assert a.takes_standby(0.0)
    a.standby.extend(["first", "second"])
    assert not a.takes_standby(0.0)  # as many waiting as the host may have in flight
    assert a.hand_on(1.0) == "first" and a.active == 2 and a.last_start == 1.0  # in the ended request's place
    a.rest(5.0)
    assert a.hand_on(4.9) is None and a.hand_on(5.0) == "second"  # nothing handed on while the host rests
    assert not a.takes_standby(4.9) and a.takes_standby(5.0)  # nor dispatched into its standby
    assert a.hand_on(6.0) is None  # none left
    a.robots_pending = True
    assert not a.takes_standby(6.0)
    b = HostSlots(concurrency=2, delay=0.25)["b:80"]
    b.standby.append("waiting")
    assert not b.takes_standby(10.0) and b.hand_on(10.0) is None  # a delay: the next start waits for it anyway
    assert slots.get("a:80") is a
    assert slots.get("c:80") is None and "c:80" not in slots.slots  # looking never creates a slot


def test_the_coordinator_fills_standbys_only_where_a_host_is_full_without_delay_or_rest():
    slots = HostSlots(concurrency=1, delay=0.0)
    assert not slots.waiting_for_standby(0.0)  # no host yet
    a = slots["a:80"]
    a.start(0.0)
    assert slots.waiting_for_standby(0.0)
    a.rest(3.0)
    assert not slots.waiting_for_standby(2.0) and slots.waiting_for_standby(3.0)
    a.standby.append("waiting")
    assert not slots.waiting_for_standby(3.0)  # its standby holds as many as it may have in flight
    slots.delay = 1.0
    slots["b:80"].start(0.0)
    assert not slots.waiting_for_standby(5.0)  # b keeps a delay
