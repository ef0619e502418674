-- wrk script for bench/serve.sh: POSTs one fixed JSON body to /invocations.
--   SERVE_BODY      file holding the request body (required)
--   SERVE_DELAY_MS  optional pause, per connection, between an answer and the next request
--                   (a paced, open-ish load; the pause is not counted in the latency)
-- At the end it prints one line `WRKJSON {...}` with the totals and latency percentiles (µs),
-- which bench/serve_report.py parses (more precise than wrk's own rounded table).
local path = assert(os.getenv("SERVE_BODY"), "SERVE_BODY is not set")
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

local pause = tonumber(os.getenv("SERVE_DELAY_MS") or "0") or 0
if pause > 0 then
  function delay()
    return pause
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "err_connect": %d, "err_read": %d, ' ..
    '"err_write": %d, "err_status": %d, "err_timeout": %d, "mean_us": %.1f, "stdev_us": %.1f, ' ..
    '"max_us": %.1f, "p50_us": %.1f, "p75_us": %.1f, "p90_us": %.1f, "p99_us": %.1f, "p999_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max, latency:percentile(50), latency:percentile(75),
    latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
