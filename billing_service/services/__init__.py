"""Use cases shared by the HTTP API and the `billing` CLI: each rule is written here once.

They raise the domain's and the database's errors (`billing.errors`, `billing_db.errors`);
each front door turns those into its own shape (a one-line CLI error, a problem+json answer).
"""
