#!/bin/sh
# Creates (when missing) and migrates Temporal's two databases on PostgreSQL with the server's
# schema tool: `temporal` and `temporal_visibility` (advanced visibility on PostgreSQL). Safe to
# run on every start. Used by docker-compose.yml (temporal-schema, admin-tools image) and by
# `make stack` (devtools/stack.py).
#
# Environment: SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD (read by temporal-sql-tool itself),
# SCHEMA_DIR (the server's schema/postgresql/v12), optional DBNAME and VISIBILITY_DBNAME.
set -eu

: "${SQL_HOST:?SQL_HOST must be set}"
: "${SCHEMA_DIR:?SCHEMA_DIR must be set (schema/postgresql/v12 of the server)}"
export SQL_PLUGIN=postgres12

migrate() {
    database=$1
    schema=$2
    # create-database fails when the database exists; a real failure shows in setup-schema.
    temporal-sql-tool --db "$database" create-database 2>/dev/null \
        || echo "database $database exists"
    temporal-sql-tool --db "$database" setup-schema -v 0.0
    temporal-sql-tool --db "$database" update-schema -d "$SCHEMA_DIR/$schema/versioned"
}

migrate "${DBNAME:-temporal}" temporal
migrate "${VISIBILITY_DBNAME:-temporal_visibility}" visibility
echo "temporal schemas are up to date"
