"""electd: lease-based leader election with the seeds' flaws (GUIDE 4.5 L-d..L-f)."""
