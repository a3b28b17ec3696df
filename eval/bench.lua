-- wrk script for eval/bench.py: POST /api/ask with the JSON bodies of the file BENCH_BODIES (one a
-- line). Each of the BENCH_THREADS threads walks its own share of the bodies, so while there are
-- more bodies than requests no body is sent twice. Prints a JSON summary at the end.
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
local counter = 0

function setup(thread)
  thread:set("offset", counter * math.floor(#bodies / threads))
  counter = counter + 1
end

function init(args)
  i = offset or 0
end

function request()
  local body = bodies[(i % #bodies) + 1]
  i = i + 1
  return wrk.format("POST", "/api/ask", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "bodies": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, #bodies))
end
