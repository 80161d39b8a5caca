"""billing_service."""
