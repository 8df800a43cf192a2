"""`make bench`: throughput and latency of the service, as ratios against a floor measured in
the same run with the same gunicorn settings (DEVELOPERS' guide: speed is measured, not guessed).

    python -m bench.run [--duration 10] [--connections 32] [--only floor,newinstance]

(`--only` takes words: the scenarios whose names contain one of them run.)

What it does, in one run:
1. creates a throwaway database on the PostgreSQL of DATABASE_URL (scripts/services.sh finds or
   starts one) and migrates it; Redis from REDIS_URL is the broker;
2. starts the service under gunicorn (config/gunicorn.py; the settings are printed);
3. measures the floor — GET /healthz, a bare Django JSON view — with wrk, then every scenario
   of bench/scenarios.py: throughput scenarios replay pre-signed requests (fresh timestamps,
   unique nonces, never a replay) with wrk at N concurrent connections and count the resultCode
   of every answer; latency scenarios send one large call at a time and report p50;
4. prints a table (rps, ratio to the floor, p50/p99, result codes, target, verdict) and a second
   one of the CPU each request cost, by process group (web, PostgreSQL, Redis, wrk, other; read
   from /proc), and writes both to bench/results/latest.md.

No Celery worker runs while measuring: the figures are those of KooGallery's calls being
answered; provisioning jobs queue up in Redis and are dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scenarios  # noqa: E402
from tests.support.processes import free_port, wait_for_port  # noqa: E402

ACCESS_KEY = "bench-access-key-0123456789"
KIT_KEY = "bench-kit-key-0123456789"
RESULTS = ROOT / "bench" / "results"


@dataclass
class Outcome:
    name: str
    kind: str
    rps: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    requests: int = 0
    errors: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    ratio: float | None = None
    target: str = ""
    verdict: str = ""
    note: str = ""
    cpu_us: dict[str, float] = field(default_factory=dict)  # CPU µs per request, by process group


def _db_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + name))


def _admin_sql(base: str, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(_db_url(base, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close()


class CpuUse:
    """CPU time spent during a measurement, by process group, from /proc (Linux): the web server
    (gunicorn and its workers), PostgreSQL, Redis, wrk, and everything else (kernel threads,
    interrupts, other processes) — so a report says where each request's cost went, not only how
    many requests there were. Elsewhere it measures nothing."""

    GROUPS = ("web", "postgres", "redis", "wrk", "other")

    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.start = self._sample()

    def _sample(self) -> dict[str, int] | None:
        try:
            with open("/proc/stat") as handle:
                fields = handle.readline().split()[1:]
        except OSError:
            return None
        values = [int(v) for v in fields]
        busy = sum(values) - values[3] - (values[4] if len(values) > 4 else 0)  # minus idle and iowait
        groups = dict.fromkeys(self.GROUPS, 0)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    stat = handle.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            rest = stat[stat.rindex(")") + 2 :].split()
            ppid, used = int(rest[1]), int(rest[11]) + int(rest[12])
            if self.server_pid and self.server_pid in (int(entry), ppid):
                groups["web"] += used
            elif comm.startswith("postgres") or comm.startswith("postmaster"):
                groups["postgres"] += used
            elif comm.startswith("redis-server"):
                groups["redis"] += used
        # wrk runs as this process's child and is gone (reaped) when the sample ends: its time
        # is in our children's times.
        times = os.times()
        groups["wrk"] = round((times.children_user + times.children_system) * self.tick)
        groups["other"] = busy - sum(groups.values())
        return groups

    def per_request(self, requests: int) -> dict[str, float]:
        end = self._sample()
        if self.start is None or end is None or requests <= 0:
            return {}
        # Processes that ended meanwhile leave the groups: "other" absorbs it, never below zero.
        return {g: max(0.0, (end[g] - self.start[g]) / self.tick / requests * 1e6) for g in self.GROUPS}


def run_wrk(
    url: str, lines: list[str], duration: int, connections: int, threads: int, server_pid: int | None = None
) -> Outcome:
    with tempfile.NamedTemporaryFile("w", suffix=".reqs", delete=False) as handle:
        handle.write("\n".join(lines) + "\n")
        path = handle.name
    cpu = None
    try:
        cmd = [
            "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency", "--timeout", "10s",
            "-s", str(ROOT / "bench" / "replay.lua"), url, "--", path, str(threads),
        ]  # fmt: skip
        cpu = CpuUse(server_pid)
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 120).stdout
    finally:
        os.unlink(path)
    result = re.search(r"RESULT (.*)", out)
    codes = re.search(r"CODES (.*)", out)
    if not result:
        raise RuntimeError(f"wrk output not understood:\n{out}")
    values = dict(item.split("=") for item in result.group(1).split())
    outcome = Outcome("", "throughput")
    outcome.rps = float(values["rps"])
    outcome.p50, outcome.p90, outcome.p99, outcome.max = (float(values[k]) for k in ("p50", "p90", "p99", "max"))
    outcome.requests, outcome.errors = int(values["requests"]), int(values["errors"])
    if codes and codes.group(1):
        outcome.codes = {k: int(v) for k, v in (item.split("=") for item in codes.group(1).split(","))}
    outcome.cpu_us = cpu.per_request(outcome.requests) if cpu else {}
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", "10")))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--only", default="", help="comma list of words; runs the scenarios whose name contains one")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (make bench installs it)", file=sys.stderr)
        return 2
    base = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not base or not redis_url:
        print("DATABASE_URL and REDIS_URL are required (make bench sets them)", file=sys.stderr)
        return 2

    db_name = f"isv_bench_{uuid.uuid4().hex[:8]}"
    queue = f"isv-bench-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _db_url(base, db_name),
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "KOOGALLERY_ACCESS_KEY": ACCESS_KEY,
        "KOOGALLERY_KIT_ACCESS_KEY": KIT_KEY,
        "ISV_FIELD_ENCRYPTION_KEY": "bench-" + uuid.uuid4().hex,
        "KOOGALLERY_OPENAPI_URL": "http://127.0.0.1:9",  # no open API calls happen inline
        "ISV_CELERY_QUEUE": queue,
        "ISV_LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESS_LOG": "0",
        "PORT": str(port),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("ISV_TESTING", None)
    prom_dir = Path(tempfile.mkdtemp(prefix="isv-bench-prom-"))
    env["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)
    _admin_sql(base, f'CREATE DATABASE "{db_name}"')
    server = None
    log = tempfile.NamedTemporaryFile(prefix="isv-bench-gunicorn-", suffix=".log", delete=False)
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for_port(port, 30)
        base_url = f"http://127.0.0.1:{port}"
        settings_line = _gunicorn_settings(env)
        print(f"bench: gunicorn {settings_line}; wrk {args.threads} threads, {args.connections} connections, "
              f"{args.duration}s per scenario; {os.cpu_count()} cores")  # fmt: skip
        ctx = scenarios.Context(base_url=base_url, access_key=ACCESS_KEY, kit_key=KIT_KEY, env=env)
        wanted = [w.strip().lower() for w in args.only.split(",") if w.strip()]
        chosen = [s for s in scenarios.ALL if not wanted or any(w in s.name.lower() for w in wanted)]
        outcomes: list[Outcome] = []
        floor_rps = None
        for scenario in chosen:
            if scenario.seed:
                scenario.seed(ctx)
            if isinstance(scenario, scenarios.Throughput):
                # Warm up the workers (imports, connections), then measure.
                run_wrk(base_url, scenario.lines(ctx, 2000), 2, args.connections, args.threads)
                budget = int((floor_rps or 4000) * args.duration * 1.6) + 2000
                lines = scenario.lines(ctx, budget)
                outcome = run_wrk(base_url, lines, args.duration, args.connections, args.threads, server.pid)
                if outcome.requests > budget:
                    outcome.note = "request file wrapped: replays included"
                outcome.name, outcome.target = scenario.name, scenario.target_text()
                if scenario.name == "floor":
                    floor_rps = outcome.rps
                if floor_rps:
                    outcome.ratio = outcome.rps / floor_rps
                outcome.verdict = scenario.verdict(outcome)
            else:
                outcome = _latency(scenario, ctx)
            outcomes.append(outcome)
            print(_row(outcome), flush=True)
        report = _report(outcomes, settings_line, args)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "latest.md").write_text(report)
        (RESULTS / "latest.json").write_text(json.dumps([o.__dict__ for o in outcomes], indent=2))
        print("\n" + report)
        return 0 if all(o.verdict != "FAIL" for o in outcomes) else 1
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        _admin_sql(base, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        _drop_queue(redis_url, queue)
        shutil.rmtree(prom_dir, ignore_errors=True)
        os.unlink(log.name)


def _gunicorn_settings(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", "import runpy; c = runpy.run_path('config/gunicorn.py'); "
         "print(f\"workers={c['workers']} threads={c['threads']} (sync worker class)\")"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def _drop_queue(redis_url: str, queue: str) -> None:
    import redis

    try:
        redis.Redis.from_url(redis_url).delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    except Exception as exc:  # noqa: BLE001 — best effort cleanup
        print(f"bench: could not drop queue {queue}: {exc}", file=sys.stderr)


def _latency(scenario: scenarios.Latency, ctx: scenarios.Context) -> Outcome:
    timings, codes = [], {}
    for i in range(scenario.runs):
        started = time.perf_counter()
        code = scenario.send(ctx, i)
        timings.append((time.perf_counter() - started) * 1000)
        codes[code] = codes.get(code, 0) + 1
    timings.sort()
    outcome = Outcome(scenario.name, "latency", requests=len(timings), codes=codes, target=scenario.target_text())
    outcome.p50 = statistics.median(timings)
    outcome.p90 = timings[int(len(timings) * 0.9) - 1]
    outcome.p99 = timings[-1]
    outcome.max = timings[-1]
    outcome.verdict = scenario.verdict(outcome)
    return outcome


def _row(o: Outcome) -> str:
    codes = ",".join(f"{k}:{v}" for k, v in sorted(o.codes.items()))
    ratio = f"{o.ratio:.2f}" if o.ratio is not None else "-"
    rps = f"{o.rps:.0f}" if o.kind == "throughput" else "-"
    return f"| {o.name} | {rps} | {ratio} | {o.p50:.1f} | {o.p99:.1f} | {codes} | {o.target} | {o.verdict} {o.note} |"


def _report(outcomes: list[Outcome], settings_line: str, args) -> str:
    head = (
        f"gunicorn {settings_line}; wrk {args.threads} threads × {args.connections} connections, "
        f"{args.duration}s per throughput scenario; {os.cpu_count()} cores; ratios are against the floor "
        "measured in the same run.\n\n"
        "| scenario | req/s | × floor | p50 ms | p99 ms | result codes | target | verdict |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    report = head + "\n".join(_row(o) for o in outcomes) + "\n"
    measured = [o for o in outcomes if o.cpu_us]
    if measured:
        report += (
            "\nWhere the CPU went: µs of CPU per request on all cores, by process group (/proc), "
            "during the measured part of each scenario. `other` is the kernel's own threads and "
            "interrupts and anything else the machine ran.\n\n"
            "| scenario | " + " | ".join(CpuUse.GROUPS) + " | total |\n"
            "|---|" + "---|" * (len(CpuUse.GROUPS) + 1) + "\n"
        )
        for o in measured:
            cells = " | ".join(f"{o.cpu_us[g]:.0f}" for g in CpuUse.GROUPS)
            report += f"| {o.name} | {cells} | {sum(o.cpu_us.values()):.0f} |\n"
    return report


if __name__ == "__main__":
    sys.exit(main())
