from django.apps import AppConfig


class AgentsGatewayConfig(AppConfig):
    name = "agents_gateway"
    verbose_name = "Agents gateway"

    def ready(self) -> None:
        # A misconfigured gateway fails the process at start-up, not the first buyer's call.
        from . import conf

        if conf.gateway_auth() is not None:
            conf.model_function()
            conf.agent_modes()
