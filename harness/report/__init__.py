"""HTML reports of runs, and the store browser behind `faultline serve`.

Entry points: `write_report(run_dir)` after a test, `write_report_for(history, results, out_dir)`
for `faultline analyze`, and the click commands in `harness.report.commands`.
"""

from harness.report.writer import ReportError, write_report, write_report_for

__all__ = ["ReportError", "write_report", "write_report_for"]
