-- wrk script of tests/bench/routes.py: each thread reads request paths from
-- its own file (<prefix>.<thread>), one a request, from the start again at
-- its end; sends the Cookie header given; counts 503s (busy) and answers
-- other than 302 or 503.
-- Optional third argument: a delay in ms before each request of a
-- connection (a paced run: rate = connections * 1000 / delay).
--   wrk -s paths.lua URL -- PREFIX COOKIE [DELAY_MS]
local threads, counter = {}, 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   paths = io.open(args[1] .. "." .. id, "r")
   cookie = args[2] or ""
   pause = tonumber(args[3] or "0")
   other, busy = 0, 0
end

function request()
   local p = paths:read("*l")
   if not p then
      paths:seek("set", 0)
      p = paths:read("*l")
   end
   return wrk.format("GET", p, {["Cookie"] = cookie})
end

function delay()
   return pause
end

function response(status, headers, body)
   if status == 503 then
      busy = busy + 1
   elseif status ~= 302 then
      other = other + 1
   end
end

function done(summary, latency, requests)
   local n, b = 0, 0
   for _, t in ipairs(threads) do
      n = n + t:get("other")
      b = b + t:get("busy")
   end
   io.write(string.format(
      "RESULT requests=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f not_302=%d busy_503=%d errors=%d\n",
      summary.requests, summary.duration / 1e6,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, n, b,
      summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout + summary.errors.status))
end
