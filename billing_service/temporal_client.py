"""Connect to Temporal the same way everywhere: worker, CLI, demo and end-to-end tests.

Connection options come from the Temporal client config profiles (TEMPORAL_PROFILE, the
`temporal.toml` file, TEMPORAL_* variables: TLS certificates, API key, ...) with this service's
settings on top, and payloads always use the pydantic data converter so that Decimals, datetimes
and our models travel as plain JSON.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from billing_service.settings import Settings


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
