"""Call a registered agent's URL like Huawei's Agents gateway and check the `usage` of the answer.

python manage.py agents_gateway_simulate --url http://127.0.0.1:8001                    # both calls
python manage.py agents_gateway_simulate --url https://isv.example.com --agent translator --stream
python manage.py agents_gateway_simulate --url … --path /v1/chat --key K --secret S --bare
python manage.py agents_gateway_simulate --url … --header X-Agent-Auth --header-value V  # 自主认证
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agents_gateway.simulator import AgentsGateway
from agents_gateway.verifier import parse_keys


class Command(BaseCommand):
    help = "Send signed gateway calls (sync and/or streaming) to an agent URL and check their usage."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL (scheme, host, port)")
        parser.add_argument("--agent", default="echo", help="agent name in /agents/<agent>/v1/chat/completions")
        parser.add_argument("--path", help="the registered path, if not the reference backend's")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--stream", dest="calls", action="store_const", const="stream", help="streaming only")
        mode.add_argument("--sync", dest="calls", action="store_const", const="sync", help="synchronous only")
        parser.add_argument("--message", default="hello from the gateway simulator", help="the user message")
        parser.add_argument("--model", help="the body's model field")
        parser.add_argument("--key", help="APP Key (default: the first of AGENTS_GATEWAY_KEYS)")
        parser.add_argument("--secret", help="APP Secret (default: the first key's secret)")
        parser.add_argument("--header", help="auth header name (default: AGENTS_GATEWAY_HEADER or Authorization)")
        parser.add_argument("--header-value", help="自主认证: the constant header value (default: configured)")
        parser.add_argument("--bare", action="store_true", help="send the token without the Bearer prefix")
        parser.add_argument("--customer-id", default="sim-customer-0001")
        parser.add_argument("--customer-name", default="Simulated Buyer")
        parser.add_argument("--request-id", help="X-Request-Id (default: a new UUID per call)")
        parser.add_argument("--timeout", type=float, default=60.0)

    def handle(self, *args, **options):
        gateway = self.gateway(options)
        calls = [options["calls"]] if options["calls"] else ["sync", "stream"]
        failed = []
        for kind in calls:
            reply = gateway.chat(
                options["message"], stream=kind == "stream", model=options["model"], request_id=options["request_id"]
            )
            problems = reply.problems()
            self.stdout.write(
                f"→ {kind} POST {options['url'].rstrip('/')}{gateway.path}  X-Request-Id: {reply.request_id}"
            )
            self.stdout.write(f"← HTTP {reply.status} {reply.content_type}")
            if kind == "stream" and reply.status == 200:
                self.stdout.write(f"  {len(reply.events)} events; text: {reply.text!r}")
            elif reply.status == 200:
                self.stdout.write(f"  text: {reply.text!r}")
            else:
                self.stdout.write(f"  {reply.body[:500].decode('utf-8', errors='replace')}")
            self.stdout.write(f"  usage: {json.dumps(reply.usage, ensure_ascii=False)}")
            if problems:
                failed.append(kind)
                self.stdout.write(self.style.ERROR(f"  ✗ {'; '.join(problems)}"))
            else:
                self.stdout.write(self.style.SUCCESS("  ✓ usage present and well-formed"))
        if failed:
            raise CommandError(f"the {' and '.join(failed)} call(s) broke the gateway contract")

    def gateway(self, options) -> AgentsGateway:
        mode = settings.AGENTS_GATEWAY_MODE
        header_value = options["header_value"] or (settings.AGENTS_GATEWAY_HEADER_VALUE if mode == "header" else None)
        common = {
            "path": options["path"] or f"/agents/{options['agent']}/v1/chat/completions",
            "customer_id": options["customer_id"],
            "customer_name": options["customer_name"],
            "timeout": options["timeout"],
        }
        if header_value:
            header = options["header"] or settings.AGENTS_GATEWAY_HEADER
            if not header:
                raise CommandError("自主认证 needs --header (or AGENTS_GATEWAY_HEADER)")
            return AgentsGateway(options["url"], constant=header_value, header=header, **common)
        key, secret = options["key"], options["secret"]
        if not (key and secret):
            try:
                configured = parse_keys(settings.AGENTS_GATEWAY_KEYS)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            if not configured:
                raise CommandError("give --key and --secret (or set AGENTS_GATEWAY_KEYS)")
            key = key or next(iter(configured))
            secret = secret or configured.get(key)
            if not secret:
                raise CommandError(f"no secret for APP Key {key!r}: give --secret")
        return AgentsGateway(
            options["url"],
            api_key=key,
            secret=secret,
            header=options["header"] or settings.AGENTS_GATEWAY_HEADER or "Authorization",
            bearer=not options["bare"],
            prefix=settings.AGENTS_GATEWAY_BEARER_PREFIX,
            **common,
        )
