"""A synthetic Atlassian-style world: tenants, teams, Jira and Confluence items, and activity."""
