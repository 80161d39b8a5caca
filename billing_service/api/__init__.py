"""The HTTP API (`/v1/billing/...`): the guide's `client.billing.*` calls, authenticated by
`pk_test_`/`pk_live_` keys. Wiring only: every rule lives in `billing_service.services`, the
pure core or the workflows, which this package calls and never bypasses."""
