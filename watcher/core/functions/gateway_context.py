"""The ``fn.gateway`` template variable: an Ingress's annotations or an HTTPRoute's parents."""

from __future__ import annotations

from typing import Any

from watcher.core.functions.overlay import Gateway
from watcher.core.functions.releases import FunctionRelease

_NGINX = "nginx.ingress.kubernetes.io"


def gateway_context(payload: FunctionRelease) -> dict[str, Any] | None:
    """What the Ingress and HTTPRoute templates need, or None when nothing is exposed."""
    gateway = payload.overlay.gateway
    if gateway is None:
        return None
    ports = payload.workload.ports
    port = gateway.port or (ports[0] if ports else 80)
    parent = dict(gateway.parent)
    parent_ref: dict[str, Any] = {"name": parent.get("name", "")}
    if parent.get("namespace"):
        parent_ref["namespace"] = parent["namespace"]
    https_ref = dict(parent_ref)
    http_ref = dict(parent_ref)
    if gateway.ssl_redirect:
        https_ref["sectionName"] = parent.get("https_section", "https")
        http_ref["sectionName"] = parent.get("http_section", "http")
    filters = []
    if gateway.auth != "none" and gateway.auth_filter:
        filters.append({"type": "ExtensionRef", "extensionRef": dict(gateway.auth_filter)})
    return {
        "type": gateway.type,
        "host": gateway.host,
        "path": gateway.path,
        "port": port,
        "auth": gateway.auth,
        "annotations": _ingress_annotations(gateway),
        "ingress_class": gateway.ingress_class,
        "tls_secret": gateway.tls_secret,
        "ssl_redirect": gateway.ssl_redirect,
        "parent_ref": https_ref,
        "redirect_parent_ref": http_ref,
        "filters": filters,
    }


def _ingress_annotations(gateway: Gateway) -> dict[str, str]:
    """ingress-nginx annotations: TLS redirect and authentication (none for an HTTPRoute)."""
    annotations: dict[str, str] = {}
    if gateway.type != "ingress":
        return annotations
    annotations[f"{_NGINX}/ssl-redirect"] = str(gateway.ssl_redirect).lower()
    if gateway.auth == "basic":
        annotations[f"{_NGINX}/auth-type"] = "basic"
        annotations[f"{_NGINX}/auth-secret"] = gateway.secret
        annotations[f"{_NGINX}/auth-realm"] = "Authentication required"
    elif gateway.auth == "access-key":
        annotations[f"{_NGINX}/auth-url"] = gateway.auth_url
        if gateway.secret:
            annotations[f"{_NGINX}/auth-secret"] = gateway.secret
    return annotations
