"""libfaketime's per-process files in /dev/shm: a shell script, run on a node's host, that
removes those of processes that are gone. Shared by the clock fault's teardown and the ssh
runtime's scrub (which runs when a controller died before that teardown)."""

SHM_PATTERNS = ("faketime_shm_", "sem.faketime_sem_")  # + the pid of the process that made them

# $1 = epoch second: only files made at or after it go. A zombie is gone too: on a remote host a
# stopped server is an orphan that its host's init may not have reaped yet.
REMOVE_DEAD = r"""
since=$1
for f in /dev/shm/faketime_shm_* /dev/shm/sem.faketime_sem_*; do
  [ -e "$f" ] || continue
  pid=${f##*_}
  case $pid in ''|*[!0-9]*) continue ;; esac
  state=$(ps -o stat= -p "$pid" 2>/dev/null) && case "$state" in Z*) ;; *) continue ;; esac
  [ "$(stat -c %Y "$f" 2>/dev/null || echo 0)" -ge "$since" ] && rm -f "$f"
done
exit 0
"""
