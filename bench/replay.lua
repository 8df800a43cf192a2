-- Replays pre-signed requests (one per line: method \t path \t headers \t body; compact JSON
-- bodies hold no raw tab or newline; headers are name\1value\2 pairs),
-- each thread taking every Nth line so no request (nonce) is sent twice, and counts the
-- resultCode of every answer so the report says what the server actually answered.
local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file = args[1]
  local nthreads = tonumber(args[2])
  requests = {}
  codes = {}
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == (id - 1) then
      local method, path, headers_line, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
      local headers = {}
      for name, value in headers_line:gmatch("([^\1\2]+)\1([^\2]*)\2") do headers[name] = value end
      table.insert(requests, wrk.format(method, path, headers, body ~= "" and body or nil))
    end
    i = i + 1
  end
  n = 0
end

function request()
  n = n + 1
  if n > #requests then n = 1 end  -- wraps only if the run outlasts the file (reported as replays)
  return requests[n]
end

function response(status, headers, body)
  local code = body and body:match('"resultCode":"(%d+)"') or ("http" .. status)
  codes[code] = (codes[code] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("codes")
    for code, count in pairs(c) do merged[code] = (merged[code] or 0) + count end
  end
  local parts = {}
  for code, count in pairs(merged) do table.insert(parts, code .. "=" .. count) end
  io.write("CODES " .. table.concat(parts, ",") .. "\n")
  io.write(string.format("RESULT rps=%.1f p50=%.3f p90=%.3f p99=%.3f max=%.3f requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
