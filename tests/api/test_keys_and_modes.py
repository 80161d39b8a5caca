"""Keys: `billing api-keys create | list | revoke`, stored only as a digest; the key alone
decides account and mode (test and live each in their own database); Idempotency-Key replays."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
from click.testing import CliRunner
from sqlalchemy import select

from billing import seed
from billing_db import repo_api_keys, repo_idempotency
from billing_db.engine import make_engine
from billing_db.migrate import upgrade
from billing_db.tables import api_keys
from billing_service.cli import main

from api.conftest import Api

V1 = "/v1/billing"


def _billing(tmp_path: Path, *args: str) -> str:
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'billing.db'}",
        "BILLING_API_KEY": None,
        "BILLING_MODE": "test",
    }
    result = CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_api_keys_are_printed_once_stored_as_digests_listed_and_revoked(tmp_path: Path) -> None:
    for mode in ("--test", "--live"):
        upgrade(f"sqlite:///{tmp_path / ('billing-test.db' if mode == '--test' else 'billing.db')}")
    test_key = json.loads(_billing(tmp_path, "api-keys", "create", "--account", "acct_k", "--json"))
    live_key = json.loads(
        _billing(tmp_path, "api-keys", "create", "--account", "acct_k", "--live", "--json")
    )
    assert test_key["key"].startswith("pk_test_")
    assert live_key["key"].startswith("pk_live_")
    assert len(test_key["key"]) > 40
    # Only a digest is stored, in the key's own mode's database.
    engine = make_engine(f"sqlite:///{tmp_path / 'billing-test.db'}")
    with engine.connect() as connection:
        stored = connection.execute(select(api_keys)).mappings().all()
    engine.dispose()
    assert [row["prefix"] for row in stored] == [test_key["prefix"]]
    assert test_key["key"] not in json.dumps([dict(row) for row in stored], default=str)
    listed = json.loads(_billing(tmp_path, "api-keys", "list", "--json"))
    assert [(k["prefix"], k["last_used_at"]) for k in listed] == [(test_key["prefix"], None)]
    assert "pk_live_" in _billing(tmp_path, "api-keys", "list", "--live")
    revoked = json.loads(_billing(tmp_path, "api-keys", "revoke", test_key["prefix"], "--json"))
    assert revoked["revoked_at"] is not None


def test_a_test_key_and_a_live_key_never_see_each_others_objects(api: Api) -> None:
    customer = {"id": f"cus_live{uuid.uuid4().hex[:6]}", "name": "L", "email": "l@example.com"}
    with httpx.Client(base_url=api.url + V1, headers=api.headers(api.live_key)) as live:
        assert live.post("/meters", json=seed.METER).json()["livemode"] is True
        created = live.post("/customers", json=customer)
        assert created.status_code == 201, created.text
        assert created.json()["livemode"] is True
        assert live.post("/pricing", json=seed.HYBRID_PRICING).json()["livemode"] is True
    with httpx.Client(base_url=api.url + V1, headers=api.headers(api.key)) as test:
        assert test.get(f"/customers/{customer['id']}").status_code == 404
        assert all(not p["livemode"] for p in test.get("/pricing").json()["data"])
        assert customer["id"] not in {c["id"] for c in test.get("/customers").json()["data"]}
        assert test.get("/config").json()["livemode"] is False
    # The live object lives in the live database only.
    engine = make_engine(api.test_database_url)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT count(*) FROM customers WHERE id = ?", (customer["id"],)
        ).scalar()
    engine.dispose()
    assert rows == 0


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(api: Api) -> None:
    key = f"idem-{uuid.uuid4().hex}"
    customer = {"id": f"cus_i{uuid.uuid4().hex[:6]}", "name": "I", "email": "i@example.com"}
    headers = {**api.headers(), "Idempotency-Key": key}
    with httpx.Client(base_url=api.url + V1) as http:
        first = http.post("/customers", json=customer, headers=headers)
        assert first.status_code == 201
        assert "Idempotent-Replayed" not in first.headers
        again = http.post("/customers", json=customer, headers=headers)
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["Idempotent-Replayed"] == "true"
        other = http.post("/customers", json={**customer, "name": "J"}, headers=headers)
        assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
        # Per key owner: another account may use the same key for its own request.
        mine = http.post(
            "/customers",
            json={**customer, "id": customer["id"] + "b"},
            headers={**api.headers(api.other_key), "Idempotency-Key": key},
        )
        assert mine.status_code == 201
        assert "Idempotent-Replayed" not in mine.headers


def test_a_key_claimed_by_a_running_request_is_in_progress_for_a_second_one(api: Api) -> None:
    engine = make_engine(api.test_database_url)
    owner = {"account_id": _account(api), "key": f"k-{uuid.uuid4().hex}"}
    assert repo_idempotency.claim(engine, request_hash="h1", **owner) is None
    second = repo_idempotency.claim(engine, request_hash="h1", **owner)
    assert second is not None
    assert second.in_progress
    repo_idempotency.save_response(engine, status_code=201, response_body="{}", **owner)
    third = repo_idempotency.claim(engine, request_hash="h1", **owner)
    assert third is not None
    assert (third.in_progress, third.status_code) == (False, 201)
    repo_idempotency.release(engine, **owner)
    assert repo_idempotency.claim(engine, request_hash="h2", **owner) is None
    engine.dispose()


def _account(api: Api) -> str:
    engine = make_engine(api.test_database_url)
    try:
        record = repo_api_keys.authenticate(engine, api.key)
        assert record is not None
        return record.account_id
    finally:
        engine.dispose()
