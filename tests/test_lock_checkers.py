"""The mutex and fencing checkers on small scripted histories: what they must catch, and the
histories (expiry, info acquires, refused writes) where they must not cry wolf."""

from __future__ import annotations

from checkers import fencing, mutex
from harness.history import Op

S = 1_000_000_000


def history(*calls):
    """calls: (process, f, invoke_s, complete_s, type, value); ops indexed in time order."""
    ops = []
    for process, f, start, end, kind, value in calls:
        ops.append(Op("invoke", f, {"name": "L", "ttl": 2.0} if f == "acquire" else None, process, int(start * S)))
        ops.append(Op(kind, f, value, process, int(end * S)))
    ops.sort(key=lambda op: op.time)
    for i, op in enumerate(ops):
        op.index = i
    return ops


def grant(token):
    return {"name": "L", "ttl": 2.0, "token": token, "owner": f"o{token}"}


def test_a_grant_inside_a_certain_hold_is_two_holders():
    h = history((0, "acquire", 0.0, 0.1, "ok", grant(1)), (1, "acquire", 0.5, 0.6, "ok", grant(2)))
    result = mutex.check(h)
    assert result["valid"] is False and result["anomalies"] == ["two-holders"]
    assert h[result["first_anomaly_index"]].value["token"] == 2


def test_expiry_and_release_end_a_hold():
    expired = history((0, "acquire", 0.0, 0.1, "ok", grant(1)), (1, "acquire", 2.1, 2.2, "ok", grant(2)))
    released = history((0, "acquire", 0.0, 0.1, "ok", grant(1)), (0, "release", 0.5, 0.6, "ok", None),
                       (1, "acquire", 0.55, 0.7, "ok", grant(2)))
    assert mutex.check(expired)["valid"] is True
    assert mutex.check(released)["valid"] is True


def test_a_failed_release_ends_nothing_and_info_acquires_never_hold():
    failed_release = history((0, "acquire", 0.0, 0.1, "ok", grant(1)), (0, "release", 0.5, 0.6, "fail", None),
                             (1, "acquire", 0.8, 0.9, "ok", grant(2)))
    assert mutex.check(failed_release)["valid"] is False
    info = history((0, "acquire", 0.0, 0.1, "info", None), (1, "acquire", 0.5, 0.6, "ok", grant(2)))
    assert mutex.check(info)["valid"] is True


def test_a_grant_that_may_have_come_after_expiry_is_not_blamed():
    # Invoked inside the hold but completed after it ended: it may have been granted after.
    h = history((0, "acquire", 0.0, 0.1, "ok", grant(1)), (1, "acquire", 1.9, 2.3, "ok", grant(2)))
    assert mutex.check(h)["valid"] is True


def write(token):
    return {"token": token, "owner": f"o{token}", "seq": 1}


def test_an_older_token_landing_after_a_newer_one_is_stale():
    h = history((0, "acquire", 0.0, 0.1, "ok", grant(1)), (1, "acquire", 2.5, 2.6, "ok", grant(2)),
                (1, "write", 2.7, 2.8, "ok", write(2)), (0, "write", 3.0, 3.1, "ok", write(1)))
    result = fencing.check(h)
    assert result["valid"] is False and result["anomalies"] == ["stale-token-accepted"]
    assert h[result["first_anomaly_index"]].value == write(1)
    chart, table = result["evidence"]
    row = table["rows"][0]
    assert h[row[0]].value["token"] == 1 and h[row[5]].value["token"] == 2  # both holders' acquires
    # Drawn: both holders, overlapping from the new grant to the stale write, which is marked.
    assert chart["kind"] == "intervals" and [b["label"] for b in chart["bars"]] == ["token 1 holder", "token 2 holder"]
    assert chart["overlap"] == [h[row[5]].time, h[row[1]].time - 100_000_000]
    assert chart["marks"][0]["op"] == result["first_anomaly_index"]


def test_refused_and_concurrent_writes_are_not_stale():
    refused = history((1, "write", 2.7, 2.8, "ok", write(2)), (0, "write", 3.0, 3.1, "fail", write(1)))
    concurrent = history((1, "write", 2.7, 3.2, "ok", write(2)), (0, "write", 3.0, 3.1, "ok", write(1)))
    assert fencing.check(refused)["valid"] is True
    assert fencing.check(concurrent)["valid"] is True


def test_an_ok_extend_lengthens_the_hold_and_a_failed_one_does_not():
    # ttl 2: the hold would end at 2.0; the extend at 1.5 keeps it to at least 3.5.
    def run(kind):
        h = history((0, "acquire", 0.0, 0.1, "ok", grant(1)), (0, "extend", 1.5, 1.6, kind, grant(1)),
                    (1, "acquire", 2.5, 2.6, "ok", grant(2)))
        h[2].value = {"name": "L", "ttl": 2.0}  # the extend's invocation
        return mutex.check(h)
    assert run("ok")["anomalies"] == ["two-holders"]
    assert run("fail")["valid"] is True and run("info")["valid"] is True


def test_a_write_held_at_a_paused_clients_gate_counts_from_when_it_was_sent():
    # The old holder decided to write at 0.5 s, was paused before sending for 2.5 s, and its
    # write landed at 3.05 s, after the new holder's write. Recorded invocation: before the newer
    # write completed, so without the stall record nothing is certain.
    h = history((0, "acquire", 0.0, 0.1, "ok", grant(1)), (1, "acquire", 2.5, 2.6, "ok", grant(2)),
                (1, "write", 2.7, 2.8, "ok", write(2)), (0, "write", 0.5, 3.1, "ok", write(1)))
    assert fencing.check(h)["valid"] is True
    stale = next(op for op in h if op.type == "invoke" and op.f == "write" and op.process == 0)

    def resumed(where: str) -> list[Op]:
        stalls = [{"thread": 0, "process": 0, "op": stale.index, "f": "write", "where": where, "seconds": 2.5}]
        return h + [Op("invoke", "resume-client", None, "nemesis", int(3.2 * S), index=len(h)),
                    Op("info", "resume-client", {"stalls": stalls}, "nemesis", int(3.2 * S), index=len(h) + 1)]

    result = fencing.check(resumed("before-send"))
    assert result["valid"] is False and result["anomalies"] == ["stale-token-accepted"]
    assert h[result["first_anomaly_index"]].value == write(1) and "held 2.500 s" in result["reason"]
    chart = result["evidence"][0]
    assert chart["overlap"][0] < chart["overlap"][1]  # from the new grant to the stale write's sending
    # Held after its reply, the write may have landed at any time in its span: not certain.
    assert fencing.check(resumed("after-reply"))["valid"] is True
