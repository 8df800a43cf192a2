"""Fixtures for the Agents gateway app: the app configured in AK/SK mode with two APP Key pairs
(a rotation), and the gateway simulator talking to it through Django's test client."""

from __future__ import annotations

import pytest

from agents_gateway.simulator import AgentsGateway

KEY = "ak-current-0001"
SECRET = "sk-current-secret-0123456789"
OLD_KEY = "ak-previous-0000"
OLD_SECRET = "sk-previous-secret-9876543210"
JOURNAL_TOKEN = "journal-token-0123456789"
CONSTANT = "own-auth-constant-value-42"


@pytest.fixture(autouse=True)
def gateway_settings(settings):
    settings.AGENTS_GATEWAY_MODE = "jwt"
    settings.AGENTS_GATEWAY_KEYS = f"{KEY}:{SECRET},{OLD_KEY}:{OLD_SECRET}"
    settings.AGENTS_GATEWAY_HEADER = ""
    settings.AGENTS_GATEWAY_HEADER_VALUE = ""
    settings.AGENTS_GATEWAY_PREVIOUS_HEADER_VALUES = []
    settings.AGENTS_GATEWAY_BEARER_PREFIX = "Bearer "
    settings.AGENTS_GATEWAY_TOKEN_FORM = "any"
    settings.AGENTS_GATEWAY_EXPIRY_CLAIM = "exp"
    settings.AGENTS_GATEWAY_CLOCK_SKEW_MS = 30_000
    settings.AGENTS_GATEWAY_MODEL = "agents_gateway.echo.echo_model"
    settings.AGENTS_GATEWAY_MODEL_NAME = "echo"
    settings.AGENTS_GATEWAY_AGENT_MODES = []
    settings.AGENTS_GATEWAY_JOURNAL_TOKEN = JOURNAL_TOKEN
    settings.AGENTS_GATEWAY_HEADER_SAMPLES = 20
    settings.AGENTS_GATEWAY_PROTECTED_PATHS = []
    return settings


@pytest.fixture
def header_mode(settings):
    """自主认证: the gateway forwards a constant X-Agent-Auth header."""
    settings.AGENTS_GATEWAY_MODE = "header"
    settings.AGENTS_GATEWAY_HEADER = "X-Agent-Auth"
    settings.AGENTS_GATEWAY_HEADER_VALUE = CONSTANT
    return settings


@pytest.fixture
def gateway(client) -> AgentsGateway:
    """The simulator signing with the current APP Key, through Django's test client."""
    return AgentsGateway(client, api_key=KEY, secret=SECRET)
