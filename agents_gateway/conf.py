"""The app's settings (config/settings.py, block "agents_gateway"), turned into the verifier and
the model function. Read on every use, so tests and operators can change them without a restart
of the code that reads them (a running process still needs a restart to see new env vars)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from . import verifier


def gateway_auth() -> verifier.GatewayAuth | None:
    """The configured verifier, None when AGENTS_GATEWAY_MODE is off (the app is then inert)."""
    try:
        return verifier.build(
            getattr(settings, "AGENTS_GATEWAY_MODE", "off"),
            keys=getattr(settings, "AGENTS_GATEWAY_KEYS", ""),
            header=getattr(settings, "AGENTS_GATEWAY_HEADER", ""),
            header_values=[
                getattr(settings, "AGENTS_GATEWAY_HEADER_VALUE", ""),
                *getattr(settings, "AGENTS_GATEWAY_PREVIOUS_HEADER_VALUES", []),
            ],
            prefix=getattr(settings, "AGENTS_GATEWAY_BEARER_PREFIX", verifier.DEFAULT_PREFIX),
            form=getattr(settings, "AGENTS_GATEWAY_TOKEN_FORM", "any"),
            expiry_claim=getattr(settings, "AGENTS_GATEWAY_EXPIRY_CLAIM", "exp"),
            skew_ms=getattr(settings, "AGENTS_GATEWAY_CLOCK_SKEW_MS", verifier.DEFAULT_SKEW_MS),
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"agents_gateway: {exc}") from exc


def model_function() -> Callable:
    path = getattr(settings, "AGENTS_GATEWAY_MODEL", "") or "agents_gateway.echo.echo_model"
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"agents_gateway: AGENTS_GATEWAY_MODEL {path!r} cannot be imported") from exc


AGENT_MODES = ("sync", "stream")


def agent_modes() -> dict[str, str]:
    """AGENTS_GATEWAY_AGENT_MODES, `agent:sync` / `agent:stream` pairs: the response mode each agent
    was registered with (§12: one mode per registered agent). An agent not listed answers in the
    mode its body asks for (`"stream": true`)."""
    modes: dict[str, str] = {}
    for item in getattr(settings, "AGENTS_GATEWAY_AGENT_MODES", []):
        agent, sep, mode = item.partition(":")
        agent, mode = agent.strip(), mode.strip().lower()
        if not sep or not agent or mode not in AGENT_MODES:
            raise ImproperlyConfigured(
                f"agents_gateway: AGENTS_GATEWAY_AGENT_MODES wants agent:sync or agent:stream pairs, not {item!r}"
            )
        modes[agent] = mode
    return modes


def default_model_name() -> str:
    return getattr(settings, "AGENTS_GATEWAY_MODEL_NAME", "") or "echo"


def journal_token() -> str:
    return getattr(settings, "AGENTS_GATEWAY_JOURNAL_TOKEN", "") or ""


def header_sample_limit() -> int:
    return int(getattr(settings, "AGENTS_GATEWAY_HEADER_SAMPLES", 20))


def protected_paths() -> tuple[str, ...]:
    return tuple(p for p in getattr(settings, "AGENTS_GATEWAY_PROTECTED_PATHS", []) if p)
