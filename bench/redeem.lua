-- POST one fresh code per request to the generic redeem endpoint.
-- Codes come from CODES_FILE; thread t of n takes every n-th code starting at t.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  codes = {}
  for line in io.lines(os.getenv("CODES_FILE")) do table.insert(codes, line) end
  nthreads = tonumber(os.getenv("THREADS") or "1")
  idx = tid + 1
  key = os.getenv("POS_KEY")
  store = os.getenv("STORE_ID")
  path = os.getenv("REQ_PATH")
  mode = os.getenv("MODE")
  rate_delay = tonumber(os.getenv("DELAY_MS") or "0")
  n = 0
end

function delay()
  return rate_delay
end

function request()
  n = n + 1
  if mode == "claim" then
    local body = '{"customer_ref": "bench-' .. tid .. '-' .. n .. '-' .. math.random(1, 1000000000) .. '"}'
    return wrk.format("POST", path, {["X-App-Key"] = key, ["Content-Type"] = "application/json"}, body)
  end
  if mode == "track" then
    return wrk.format("GET", path .. "?customer_ref=c" .. tid .. "-" .. n)
  end
  local code = codes[idx]
  idx = idx + nthreads
  if code == nil then code = "0000000000000" end
  local body = '{"code": "' .. code .. '", "store_id": "' .. store .. '", "transaction_id": "b' ..
    tid .. '-' .. n .. '", "basket_total": "10.00"}'
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json", ["Idempotency-Key"] = "k" .. tid .. "-" .. n .. "-" .. code}, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors=%d non2xx=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
