"""raftkv's modes: the correct Raft, and five classic mistakes the harness must catch.

Each buggy mode is an `if self.mode == ...` at each place in `server.py` where the mistake
lives, marked there with a `BUG(<mode>)` comment; everything else is the correct code.
Citations are to /work/shared/seeds/GUIDE.md (sections 4.1 and 4.3) and, through it, to the seed
guides (`Sn:a-b` = file `00n_*.txt`, lines a to b).

- `correct`: randomised election timeouts on the monotonic clock; AppendEntries with the
  previous-entry check and truncation of a conflicting suffix; commit only with a majority of the
  whole cluster and only entries of the current term directly; term, vote and log fsynced before
  any reply; reads go through the log.
- `majority-excl-self` (GUIDE 4.1 R-a, seed S3:881 and S3:1031): the majority is
  `len(peers)//2 + 1` but it is compared with a count that includes the node itself, so with 4
  nodes two of them elect a leader and commit. Caught with 4 nodes and a 2|2 partition (two
  leaders in one term; acknowledged writes lost).
- `no-prevlog-check` (GUIDE 4.1 R-b, S3:1006-1008): followers `extend` their log with whatever
  arrives: no prevLogIndex/prevLogTerm check, no truncation. Logs grow gaps and duplicates;
  caught by committed-log agreement and linearizability after partitions and leader changes.
- `vote-reset-on-heartbeat` (GUIDE 4.1 R-c, all three parts from S0's Go sketch): every
  accepted heartbeat sets the follower's vote back to nobody without a term change (S0:549-554);
  the vote rule is only "term not older and no other vote" with no log up-to-date check
  (S0:521); the candidate counts grants in one integer that late grants of earlier terms also
  bump (S0:525-527) and promotes itself once the count is a majority, even after it became a
  follower meanwhile (S0:476-481). Two leaders in one term, caught by election safety.
- `no-persist` (GUIDE 4.1 R-e, S0:381-384, S3:793-796, S4:98-101): the "persistent state" (term,
  vote, log) lives in memory only, so a restarted node has forgotten it; caught with kill and
  restart (lost committed writes, a second vote in a term).
- `local-reads` (GUIDE 4.1 R-g, S1:637 "Reads (can be distributed)"): any node answers a read
  from its own state machine without confirming it is the leader; caught with partitions (and
  plain follower lag) as stale reads.
"""

from __future__ import annotations

CORRECT = "correct"
MAJORITY_EXCL_SELF = "majority-excl-self"
NO_PREVLOG_CHECK = "no-prevlog-check"
VOTE_RESET_ON_HEARTBEAT = "vote-reset-on-heartbeat"
NO_PERSIST = "no-persist"
LOCAL_READS = "local-reads"

MODES = (CORRECT, MAJORITY_EXCL_SELF, NO_PREVLOG_CHECK, VOTE_RESET_ON_HEARTBEAT, NO_PERSIST, LOCAL_READS)
