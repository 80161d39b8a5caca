#!/bin/sh
# Register the billing service's search attributes in one namespace, idempotently.
#
#   TEMPORAL_ADDRESS=temporal:7233 TEMPORAL_NAMESPACE=default \
#     sh register-search-attributes.sh BillingCustomerId=Keyword BillingDueAt=Datetime ...
#
# Arguments are Name=Type pairs (types as the `temporal` CLI spells them: Keyword, Datetime,
# Double, ...). The list lives in docker-compose.yml and a test keeps it equal to
# workflows/search_attributes.py. Names already registered are left alone, so running this
# again on every `docker compose up` is safe. Exits non-zero unless every name is registered.
set -eu

namespace="${TEMPORAL_NAMESPACE:?TEMPORAL_NAMESPACE must name the namespace}"
attempts="${REGISTER_ATTEMPTS:-60}"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 Name=Type [Name=Type ...]" >&2
    exit 2
fi
for pair in "$@"; do
    case "$pair" in
        *=*=* | =* | *=) echo "not a Name=Type pair: '$pair'" >&2; exit 2 ;;
        *=*) ;;
        *) echo "not a Name=Type pair: '$pair'" >&2; exit 2 ;;
    esac
done

# The frontend learns of a new namespace through a cache refreshed every few seconds.
registered() {
    temporal operator search-attribute list --namespace "$namespace"
}
attempt=1
until existing=$(registered 2>/dev/null); do
    if [ "$attempt" -ge "$attempts" ]; then
        echo "namespace '$namespace' is not reachable at ${TEMPORAL_ADDRESS:-localhost:7233}" >&2
        registered >&2 || true
        exit 1
    fi
    attempt=$((attempt + 1))
    sleep 1
done

for pair in "$@"; do
    name="${pair%%=*}"
    type="${pair#*=}"
    if printf '%s\n' "$existing" | grep -qw -- "$name"; then
        echo "search attribute $name: already registered"
    else
        temporal operator search-attribute create --namespace "$namespace" \
            --name "$name" --type "$type"
        echo "search attribute $name: registered as $type"
    fi
done

existing=$(registered)
missing=""
for pair in "$@"; do
    name="${pair%%=*}"
    printf '%s\n' "$existing" | grep -qw -- "$name" || missing="$missing $name"
done
if [ -n "$missing" ]; then
    echo "still missing in namespace '$namespace':$missing" >&2
    exit 1
fi
echo "all $# search attributes registered in namespace '$namespace'"
