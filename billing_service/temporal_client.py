"""Connect to Temporal the same way everywhere: worker, CLI, demo and end-to-end tests.

Connection options come from the Temporal client config profiles (TEMPORAL_PROFILE, the
`temporal.toml` file, TEMPORAL_* variables: TLS certificates, API key, ...) with this service's
settings on top, and payloads always use the pydantic data converter so that Decimals, datetimes
and our models travel as plain JSON.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from billing_service.settings import Settings
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    options: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    options["target_host"] = settings.temporal_address
    options["namespace"] = settings.temporal_namespace
    if settings.temporal_api_key is not None:
        options["api_key"] = settings.temporal_api_key.get_secret_value()
        options["tls"] = options.get("tls") or True
    if settings.temporal_tls:
        options["tls"] = options.get("tls") or True
    return await Client.connect(**options, data_converter=pydantic_data_converter, runtime=runtime)


async def register_search_attributes(client: Client) -> None:
    """Register our search attributes in the client's namespace, leaving those already there
    alone (for servers, or namespaces, started without the flags)."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as error:
        if error.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()  # the Java test server cannot list; it starts with none of ours
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
