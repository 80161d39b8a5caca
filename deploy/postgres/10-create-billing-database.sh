#!/bin/sh
# Runs once, on the first start of an empty PostgreSQL data volume (docker-entrypoint-initdb.d):
# creates the billing database owned by its own login role. Temporal's `temporal` and
# `temporal_visibility` databases are created by the temporal service (auto-setup) itself.
# The worker creates the tables (alembic migrations) when it starts.
set -eu

: "${BILLING_DB_NAME:?BILLING_DB_NAME must be set}"
: "${BILLING_DB_USER:?BILLING_DB_USER must be set}"
: "${BILLING_DB_PASSWORD:?BILLING_DB_PASSWORD must be set}"

psql --variable ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set db="$BILLING_DB_NAME" --set owner="$BILLING_DB_USER" \
    --set password="$BILLING_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'owner', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SQL

echo "billing database '$BILLING_DB_NAME' owned by '$BILLING_DB_USER' is ready"
