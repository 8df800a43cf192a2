"""What `make bench` measures. Each throughput scenario builds N distinct, freshly signed
requests exactly as KooGallery would send them (the simulator's signing functions); each latency
scenario sends one large call at a time. Targets come from the issues."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from marketplace_isv.simulator.client import compact_sorted, epoch_ms, new_nonce
from marketplace_isv.simulator.signing import kit_v2_signature, v2_signature

HEADER_PAIR = "{}\x01{}\x02"


@dataclass
class Context:
    base_url: str
    access_key: str
    kit_key: str
    env: dict[str, str]
    data: dict = field(default_factory=dict)  # what seeds leave for the scenarios


def line(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> str:
    text = body.decode("utf-8")
    assert "\t" not in text and "\n" not in text, "compact JSON bodies hold no raw tab or newline"
    return "\t".join([method, path, "".join(HEADER_PAIR.format(k, v) for k, v in headers.items()), text])


def v2_line(ctx: Context, fields: dict) -> str:
    body = compact_sorted(fields)
    ts, nonce = epoch_ms(), new_nonce()
    sig = v2_signature(ctx.access_key, nonce, ts, body).upper()
    path = f"/koogallery/produce?signature={sig}&timestamp={ts}&nonce={quote(nonce)}"
    return line("POST", path, {"Content-Type": "application/json;charset=utf8", "Accept": "application/json"}, body)


def kit_v2_line(ctx: Context, name: str, fields: dict) -> str:
    body = compact_sorted(fields)
    ts, nonce = epoch_ms(), new_nonce()
    headers = {
        "Content-Type": "application/json;charset=utf8",
        "x-sign": kit_v2_signature(ctx.kit_key, nonce, ts, body),
        "x-timestamp": ts,
        "x-nonce": nonce,
    }
    return line("POST", f"/koogallery/produce/produceAPI/v2/{name}", headers, body)


@dataclass
class Throughput:
    name: str
    build: Callable[[Context, int], list[str]]
    min_ratio: float | None = None
    max_p99_ms: float | None = None
    expect: tuple[str, ...] = ("000000",)
    seed: Callable[[Context], None] | None = None

    def lines(self, ctx: Context, count: int) -> list[str]:
        return self.build(ctx, count)

    def target_text(self) -> str:
        parts = []
        if self.min_ratio:
            parts.append(f"≥ {self.min_ratio} × floor")
        if self.max_p99_ms:
            parts.append(f"p99 ≤ {self.max_p99_ms:.0f} ms")
        return ", ".join(parts) or "(the floor)"

    def verdict(self, outcome) -> str:
        unexpected = sum(v for k, v in outcome.codes.items() if k not in self.expect)
        if outcome.errors or unexpected:
            return "FAIL"
        if self.min_ratio and (outcome.ratio or 0) < self.min_ratio:
            return "FAIL"
        if self.max_p99_ms and outcome.p99 > self.max_p99_ms:
            return "FAIL"
        return "pass"


@dataclass
class Latency:
    name: str
    send: Callable[[Context, int], str]  # sends call i, returns its resultCode
    runs: int = 15
    max_p50_ms: float | None = None
    max_ms: float | None = None
    expect: tuple[str, ...] = ("000000",)
    seed: Callable[[Context], None] | None = None

    def target_text(self) -> str:
        if self.max_p50_ms:
            return f"p50 ≤ {self.max_p50_ms:.0f} ms"
        if self.max_ms:
            return f"every call ≤ {self.max_ms:.0f} ms"
        return ""

    def verdict(self, outcome) -> str:
        if any(k not in self.expect for k in outcome.codes):
            return "FAIL"
        if self.max_p50_ms and outcome.p50 > self.max_p50_ms:
            return "FAIL"
        if self.max_ms and outcome.max > self.max_ms:
            return "FAIL"
        return "pass"


# --- the floor -------------------------------------------------------------------------------------


def floor_lines(ctx: Context, count: int) -> list[str]:
    return [line("GET", "/healthz", {"Accept": "application/json"})] * count


# --- the protocol layer (issue 2): a signed, verified, nonce-checked, journaled call ---------------


def protocol_lines(ctx: Context, count: int) -> list[str]:
    # A debug changeInstanceCheck is accepted without looking anything up (§4.1.7): what it costs
    # is the protocol layer's own — read, verify, claim the nonce, route, sign, journal.
    product = {"productId": "00301-666666-0--0", "skuCode": "sku-standard", "productName": "Bench"}
    return [v2_line(ctx, {"activity": "changeInstanceCheck", "instanceId": "bench-any", "productInfo": product,
                          "testFlag": "1"}) for _ in range(count)]  # fmt: skip


# --- orders (issue 3) ----------------------------------------------------------------------------


def new_instance_lines(ctx: Context, count: int) -> list[str]:
    # Fresh orders: every call a new order line, real traffic, as a purchase arrives (§4.1.1).
    lines = []
    for _ in range(count):
        order = "CS" + uuid.uuid4().hex[:16].upper()
        lines.append(v2_line(ctx, {"activity": "newInstance", "orderId": order, "orderLineId": f"{order}-000001",
                                   "businessId": str(uuid.uuid4()), "testFlag": "0"}))  # fmt: skip
    return lines


SEED_INSTANCES = """
import json, os, sys, uuid
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.conf import settings
settings.ISV_JOB_DISPATCH = "inline"  # provision right here: no worker runs during the bench
from config.wsgi import application
from marketplace_isv.simulator.client import KooGallery, WsgiTarget
client = KooGallery(WsgiTarget(application), access_key=settings.KOOGALLERY_ACCESS_KEY)
ids = []
for i in range(int(sys.argv[1])):
    order = "CSSEED" + uuid.uuid4().hex[:10].upper()
    reply = client.v2("newInstance", {"orderId": order, "orderLineId": order + "-000001", "businessId": str(uuid.uuid4())})
    ids.append(reply.json["instanceId"])
ready = client.v2("queryInstance", {"instanceId": ",".join(ids[:100])}).json
assert ready["resultCode"] == "000000" and len(ready["info"]) == min(len(ids), 100), ready
print(json.dumps(ids))
"""


def seed_instances(ctx: Context) -> None:
    """Ready instances to query, created through the real newInstance path and provisioned."""
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run([sys.executable, "-c", SEED_INSTANCES, "200"], env=ctx.env, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"seeding instances failed:\n{out.stderr[-3000:]}")
    ctx.data["instance_ids"] = json.loads(out.stdout.strip().splitlines()[-1])


def query_instance_lines(ctx: Context, count: int) -> list[str]:
    ids = ctx.data["instance_ids"]
    return [v2_line(ctx, {"activity": "queryInstance", "instanceId": ids[i % len(ids)], "testFlag": "1"})
            for i in range(count)]  # fmt: skip


# --- joint-operation sync (issue 5): large Kit V2 calls, one at a time ---------------------------


def _simulator(ctx: Context):
    from marketplace_isv.simulator.client import KooGallery

    return KooGallery(ctx.base_url, access_key=ctx.access_key, kit_key=ctx.kit_key, timeout=60)


def auth_sync_500(ctx: Context, i: int) -> str:
    users = [
        {"userName": f"user{i}-{n:04d}", "name": f"User {n}", "orgCode": f"org-{n % 50:03d}", "role": "user" if n else "admin",
         "enable": "true", "position": "engineer", "employeeCode": f"E{n:05d}", "employeeType": 1,
         "mobile": f"1380000{n:04d}", "email": f"user{n}@example.com"}
        for n in range(500)
    ]  # fmt: skip
    fields = {"instanceId": f"bench-inst-{i}", "tenantId": f"bench-tenant-{i % 3}", "appId": "bench-app",
              "userList": users, "flag": 1, "currentSyncTime": f"20260101000000{i:03d}"}  # fmt: skip
    return _simulator(ctx).kit_v2("authSync", fields).code


def all_org_sync_10k(ctx: Context, i: int) -> str:
    # A steady-state snapshot: each run renames 5% of the tree and replaces 2% of it.
    orgs = []
    for n in range(10_000):
        code = f"org-{n:05d}" if n % 50 else f"org-{n:05d}-r{i}"
        parent = "" if n < 10 else f"org-{(n // 10):05d}"
        name = f"Department {n}" + (f" (renamed {i})" if n % 20 == i % 20 else "")
        orgs.append({"orgCode": code, "orgName": name, "parentCode": parent})
    fields = {"instanceId": "bench-org-inst", "tenantId": "bench-org-tenant", "orgInfoList": orgs}
    return _simulator(ctx).kit_v2("allOrgSync", fields).code


ALL: list = [
    Throughput("floor", floor_lines, expect=("http200",)),
    Throughput("protocol layer: V2 signed, verified, journaled", protocol_lines, min_ratio=0.6),
    Throughput("V2 newInstance, fresh orders", new_instance_lines, min_ratio=0.5, max_p99_ms=100, expect=("000004",)),
    Throughput("V2 queryInstance", query_instance_lines, min_ratio=0.7, seed=seed_instances),
    Latency("authSync, 500 users (Kit V2)", auth_sync_500, runs=15, max_p50_ms=300),
    Latency("allOrgSync, 10,000 departments (Kit V2)", all_org_sync_10k, runs=7, max_ms=3000),
]


def _json(data) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _id() -> str:
    return uuid.uuid4().hex
