-- wrk script of bench/harness.py's load(): send the requests it prepared, in turn.
--
-- The file named after wrk's `--` holds, for each request, its length in bytes on a line
-- of its own, then the raw HTTP request (head and body, sent as is). When every request
-- has gone the first goes again. done() prints one line, `BENCH {json}`, that load() reads;
-- wrk itself counts answers of 400 and above (summary.errors.status).

local prepared = {}
local turn = 1

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local pos = 1
  while pos <= #data do
    local eol = data:find("\n", pos, true)
    local size = tonumber(data:sub(pos, eol - 1))
    prepared[#prepared + 1] = data:sub(eol + 1, eol + size)
    pos = eol + size + 1
  end
end

function request()
  local raw = prepared[turn]
  turn = turn % #prepared + 1
  return raw
end

function done(summary, latency, _requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
