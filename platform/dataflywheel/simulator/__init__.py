"""A synthetic Atlassian-style world: tenants, teams, Jira and Confluence items, and activity.

Imports ``contracts`` and ``ingest`` (to land what it simulates, and the reason codes of the faults
it injects); nothing imports it but
the CLI, the demo, the benchmarks and the tests.
"""
