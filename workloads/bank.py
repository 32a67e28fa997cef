"""The bank workload (Jepsen's): transfers between random accounts, and reads of every balance.

`transfer` has value `{"from": a, "to": b, "amount": n}` (a != b, 1 <= n <= 5); a client may add
`txn`, its transaction id, to the completion's value. `read` has value None and completes `ok`
with the list of all balances, indexed by account. The total never changes, so every read must
sum to `ACCOUNTS * BALANCE` and show no negative balance. Judged by the `bank` checker.
"""

from __future__ import annotations

from typing import Any, Mapping

from harness.generator.combinators import each_thread, fn
from harness.seams import WorkloadOptions

ACCOUNTS = 8
BALANCE = 10


class BankWorkload:
    name = "bank"
    description = "transfers between random accounts and read-all transactions; every read must see the constant total"

    def generator(self, options: WorkloadOptions) -> Any:
        accounts = int(options.params.get("accounts", ACCOUNTS))

        def next_op(ctx: Any, rng: Any) -> dict[str, Any]:
            if rng.random() < 0.2:
                return {"f": "read"}
            source = rng.randrange(accounts)
            target = (source + 1 + rng.randrange(accounts - 1)) % accounts
            return {"f": "transfer", "value": {"from": source, "to": target, "amount": rng.randint(1, 5)}}

        return fn(next_op, seed=options.seed)

    def final_generator(self, options: WorkloadOptions) -> Any:
        return each_thread({"f": "read"})

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        return {"bank": {"accounts": ACCOUNTS, "total": ACCOUNTS * BALANCE}}
