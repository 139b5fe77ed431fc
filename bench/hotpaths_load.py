"""Closed-loop throughput with ``wrk``: one Lua script per path that rotates through the seeded
tokens (and job ids) request by request, counts every answer that is not a 2xx (or, for GraphQL,
carries ``errors``), and prints one JSON line of results from ``done()``.

wrk runs pinned to core 1 (``-t1 -c64``); the server under load has core 0 to itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.hotpaths_seed import Fleet
from bench.hotpaths_servers import LOAD_CORE, Server, machine_ticks

REST = "/client/logistics"
TRACK_QUERY = (
    "query($id: ID!) { trackOrder(jobId: $id) { status eta { dropoffAt seconds } "
    "driver { name point { lat lng } stale } timeline { status at actor } } }"
)
MARK = "HOTPATHS "
CONNECTIONS = 64

# %(...)s are filled in by Python; the rest is Lua. Globals: wrk reads ``bad`` of each thread
# with thread:get, and keeps the threads in the main state's ``threads``.
LUA = r"""
mode = "%(mode)s"
tokens = {%(tokens)s}
ids = {%(ids)s}
gql_head = [==[%(gql_head)s]==]
gql_tail = [==[%(gql_tail)s]==]
bad = 0
n = 0
threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  bad = 0
end

function request()
  n = n + 1
  local k = (n %% #tokens) + 1
  local auth = "Bearer " .. tokens[k]
  if mode == "location" then
    local lat, lng = 52.45 + (n %% 1100) * 0.0001, 13.30 + (k %% 2000) * 0.0001
    local body = string.format('{"lat":%%.6f,"lng":%%.6f}', lat, lng)
    return wrk.format("PUT", "%(rest)s/location",
      {["Authorization"] = auth, ["Content-Type"] = "application/json"}, body)
  elseif mode == "track" then
    return wrk.format("GET", "%(rest)s/orders/" .. ids[k] .. "/track", {["Authorization"] = auth})
  else
    return wrk.format("POST", "/graphql",
      {["Authorization"] = auth, ["Content-Type"] = "application/json"}, gql_head .. ids[k] .. gql_tail)
  end
end

function response(status, headers, body)
  if status < 200 or status > 299 or (mode == "graphql" and body and body:find('"errors"', 1, true)) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"bad":%%d,"socket_errors":%%d,"timeouts":%%d,'
    .. '"p50_us":%%d,"p99_us":%%d}\n',
    summary.requests, summary.duration, total, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    bad: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p99_ms: float
    server_cpu_pct: float
    # The rest of the machine (PostgreSQL included), in % of one core: high means a disturbed run.
    other_cpu_pct: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_list(values: list[str]) -> str:
    # Tokens and ids are base64url and ULIDs: nothing to escape.
    return ",".join(f'"{value}"' for value in values)


def write_script(mode: str, fleet: Fleet, directory: Path) -> Path:
    """The Lua script of one path: ``location`` (the drivers' tokens), ``track`` and ``graphql``
    (the customers' tokens with their jobs)."""
    if mode == "location":
        tokens, ids = fleet.driver_tokens, ["-"]
    else:
        tokens, ids = fleet.customer_tokens, fleet.job_ids
    head, tail = json.dumps({"query": TRACK_QUERY, "variables": {"id": "@ID@"}}).split("@ID@")
    script = LUA % {
        "mode": mode,
        "tokens": _lua_list(tokens),
        "ids": _lua_list(ids),
        "gql_head": head,
        "gql_tail": tail,
        "rest": REST,
        "mark": MARK,
    }
    path = directory / f"wrk-{fleet.db}-{mode}.lua"
    path.write_text(script)
    return path


def wrk_available() -> bool:
    return shutil.which("wrk") is not None and shutil.which("taskset") is not None


async def run_wrk(server: Server, script: Path, seconds: float) -> WrkResult:
    """One closed-loop run of ``seconds`` against ``server``; raises if wrk reports nothing."""
    command = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s"]
    command += ["--latency", "--timeout", "5s", "-s", str(script), server.base_url]
    cpu_before, machine_before, wrk_before = server.cpu_seconds(), machine_ticks(), _children_cpu()
    loop = asyncio.get_running_loop()
    started = loop.time()
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    wall = loop.time() - started
    server_cpu = server.cpu_seconds() - cpu_before
    busy, total = (after - before for after, before in zip(machine_ticks(), machine_before, strict=True))
    machine_cpu = busy / total * wall * (os.cpu_count() or 1) if total else float("nan")
    other_cpu = machine_cpu - server_cpu - (_children_cpu() - wrk_before)
    text = output.decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith(MARK)), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{text[-2000:]}\n{server.log_tail()}")
    data = json.loads(line[len(MARK) :])
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        bad=data["bad"],
        socket_errors=data["socket_errors"],
        timeouts=data["timeouts"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        server_cpu_pct=100 * server_cpu / wall,
        other_cpu_pct=100 * other_cpu / wall,
    )


def _children_cpu() -> float:
    # wrk's CPU time, once it has been waited for.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
