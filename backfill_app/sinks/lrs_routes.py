"""The LRS endpoints to send to: one from --destination_config, or the LMS's enabled routes."""

from __future__ import annotations

import logging

from backfill_app.core.errors import BackfillConfigError
from backfill_app.core.redaction import url_without_credentials
from backfill_app.core.secrets import resolved
from backfill_app.sinks.lrs import LrsEndpoint, statements_url

log = logging.getLogger(__name__)

LRS_CONFIG_KEYS = {"url", "username", "password", "token", "auth_scheme", "timeout_secs"}


def endpoint_from_config(config: dict, transformer_type: str) -> LrsEndpoint:
    config = resolved(config, "--destination_config")
    unknown = set(config) - LRS_CONFIG_KEYS
    if unknown:
        raise BackfillConfigError(
            f"--destination_config has unknown keys for LRS: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(LRS_CONFIG_KEYS))})."
        )
    url = str(config["url"])
    if not url.startswith(("http://", "https://")):
        raise BackfillConfigError("--destination_config 'url' must be an http(s) URL of the LRS.")
    return LrsEndpoint(
        url=statements_url(url) if transformer_type == "xapi" else url,
        transformer_type=transformer_type,
        username=config.get("username", ""),
        password=config.get("password", ""),
        auth_scheme=config.get("auth_scheme", "Bearer" if config.get("token") else ""),
        auth_key=config.get("token", ""),
        timeout_secs=float(config.get("timeout_secs", 60)),
    )


def endpoints_from_routes(transformer_type: str, lrs_urls: list[str] | None) -> list[LrsEndpoint]:
    """ERB's enabled ``RouterConfiguration`` routes of this type, narrowed by ``--lrs-urls``."""
    from event_routing_backends.models import RouterConfiguration

    backend = RouterConfiguration.XAPI_BACKEND if transformer_type == "xapi" else RouterConfiguration.CALIPER_BACKEND
    # Not ERB's get_enabled_routers: it answers from a cache up to 10 minutes old. Its router
    # asks for "xapi"/"caliper" while the model's choices say "xAPI"/"Caliper": both occur.
    routes = list(RouterConfiguration.objects.current_set().filter(enabled=True, backend_name__iexact=transformer_type))
    if lrs_urls:
        missing = set(lrs_urls) - {route.route_url for route in routes}
        if missing:
            raise BackfillConfigError(
                f"These --lrs-urls are not enabled {backend} routes in RouterConfiguration: "
                f"{', '.join(sorted(missing))}."
            )
        routes = [route for route in routes if route.route_url in lrs_urls]
    if not routes:
        raise BackfillConfigError(
            f"No enabled {backend} route in RouterConfiguration: add one in the LMS admin, "
            'or give the LRS with --destination_config \'{"url": ..., "username": ..., "password": ...}\'.'
        )
    endpoints = []
    for route in routes:
        if _has_filters_or_overrides(route):
            log.warning(
                "route %s has match_params or override_args in its configurations; a backfill sends it "
                "every statement unchanged (use --lrs-urls to leave it out)",
                url_without_credentials(route.route_url),
            )
        basic = route.auth_scheme == RouterConfiguration.AUTH_BASIC
        endpoints.append(
            LrsEndpoint(
                url=statements_url(route.route_url) if transformer_type == "xapi" else route.route_url,
                transformer_type=transformer_type,
                username=(route.username or "") if basic else "",
                password=(route.password or "") if basic else "",
                auth_scheme=route.auth_scheme or "",
                auth_key="" if basic else (route.auth_key or ""),
            )
        )
    return endpoints


def _has_filters_or_overrides(route) -> bool:
    configurations = route.configurations or []
    if isinstance(configurations, dict):
        configurations = [configurations]
    return any(
        isinstance(host, dict) and (host.get("match_params") or host.get("override_args")) for host in configurations
    )
