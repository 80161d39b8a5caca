"""billing_db."""
