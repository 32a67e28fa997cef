"""Test campaigns: a matrix of `faultline test` runs declared in a TOML file (plan), run side by
side within the machine's budget and resumable (runner), with a page, campaign.json and JUnit
XML (outputs), from the command line (cli) and from pytest (harness.pytest_plugin)."""
