"""queued's broker and counterd's node in process, on real files: each mode's flaw, pinned by a
scripted sequence of requests (no network, no timing luck)."""

from __future__ import annotations

from pathlib import Path

import pytest

from systems_under_test.counterd.server import Node as CounterNode
from systems_under_test.queued import server as queued
from systems_under_test.queued.server import Broker


def take(broker: Broker) -> tuple:
    reply = broker.dequeue()
    assert reply["status"] == "ok", reply
    return reply["value"], reply["token"]


def test_correct_broker_redelivers_an_unacked_message_after_a_restart_but_never_an_acked_one(tmp_path: Path) -> None:
    broker = Broker("correct", tmp_path)
    for v in (1, 2, 3):
        broker.enqueue(v)
    value, token = take(broker)
    assert broker.ack(value, token)["status"] == "ok"
    take(broker)  # 2 leased, never acked: the consumer crashed
    restarted = Broker("correct", tmp_path)
    assert [take(restarted)[0], take(restarted)[0]] == [2, 3]
    assert restarted.dequeue()["status"] == "empty"


def test_a_lease_that_runs_out_redelivers_and_refuses_the_late_ack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queued, "LEASE_SECONDS", 0.0)
    broker = Broker("correct", tmp_path)
    broker.enqueue(1)
    value, stale = take(broker)
    again, token = take(broker)  # the first lease already ran out
    assert again == value
    assert broker.ack(value, stale)["definite"] is True
    assert broker.ack(value, token)["status"] == "ok"


def test_an_empty_queue_says_how_many_messages_are_still_leased(tmp_path: Path) -> None:
    broker = Broker("correct", tmp_path)
    broker.enqueue(1)
    take(broker)
    assert broker.dequeue() == {"status": "empty", "leased": 1}


def test_pop_without_ack_forgets_a_message_whose_reply_was_lost(tmp_path: Path) -> None:
    broker = Broker("pop-without-ack", tmp_path)
    broker.enqueue(1)
    take(broker)  # the reply never reaches the client
    assert Broker("pop-without-ack", tmp_path).dequeue()["status"] == "empty"
    assert broker.dequeue() == {"status": "empty", "leased": 0}


def test_in_memory_restarts_empty(tmp_path: Path) -> None:
    Broker("in-memory", tmp_path).enqueue(1)
    assert Broker("in-memory", tmp_path).dequeue()["status"] == "empty"


def test_ack_before_flush_loses_acknowledged_enqueues_not_yet_flushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queued, "FLUSH_SECONDS", 3600.0)  # the crash comes before the flush
    assert Broker("ack-before-flush", tmp_path).enqueue(1) == {"status": "ok"}
    assert Broker("ack-before-flush", tmp_path).dequeue()["status"] == "empty"


def test_redeliver_no_dedupe_redelivers_an_acknowledged_message_after_a_restart(tmp_path: Path) -> None:
    broker = Broker("redeliver-no-dedupe", tmp_path)
    broker.enqueue(1)
    assert broker.ack(*take(broker))["status"] == "ok"
    assert take(Broker("redeliver-no-dedupe", tmp_path))[0] == 1


def counter_node(mode: str, data_dir: Path) -> CounterNode:
    # A single node: it is its own primary, so requests apply locally.
    return CounterNode("n1", {}, mode, data_dir)


def test_counterd_applies_a_retried_key_once_and_keeps_it_across_a_restart(tmp_path: Path) -> None:
    node = counter_node("correct", tmp_path)
    for _ in range(3):  # one add and two retries under its key
        node.handle({"type": "add", "delta": 1, "key": "k1"})
    assert node.handle({"type": "read"})["value"] == 1
    restarted = counter_node("correct", tmp_path)
    restarted.handle({"type": "add", "delta": 1, "key": "k1"})
    assert restarted.handle({"type": "read"})["value"] == 1


def test_without_idempotency_keys_a_retry_counts_again(tmp_path: Path) -> None:
    node = counter_node("retry-without-idempotency-key", tmp_path)
    node.handle({"type": "add", "delta": 1, "key": "k1"})
    node.handle({"type": "add", "delta": 1, "key": "k1"})
    assert node.handle({"type": "read"})["value"] == 2
