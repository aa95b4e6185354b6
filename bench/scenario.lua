-- wrk script shared by every scenario, so S0 and the order scenarios pay the same client-side cost.
--
-- Usage: wrk -s bench/scenario.lua URL -- SCENARIO DATA_FILE
--   SCENARIO   hello | post | keyed_post | get | list | mix
--   DATA_FILE  Lua file defining `bench_readers` (tokens for the seeded user), `bench_writers` (tokens
--              for other users, so POSTs never change the page S3 lists) and `bench_ids` (the seeded
--              order ids); bench/prepare.py writes it.
--
-- Each request takes the next token of the pool in turn (distinct jti: each is verified in full once,
-- then served from the app's verified-token cache, docs/bench.md) and GET/pay/cancel pick a random
-- seeded order. Responses are counted by status in each thread and summed in done() (wrk_statuses.lua);
-- the last line printed is one JSON object for the runner (bench/wrk.py).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local statuses = dofile(here .. "wrk_statuses.lua")

local scenario, readers, writers, ids
local next_token = 0

local json_headers = { ["Content-Type"] = "application/json" }
local post_body = '{"order":[{"product":"latte","size":"small","quantity":1}]}'

local function pick(list)
  next_token = next_token + 1
  return list[(next_token % #list) + 1]
end

local function bearer(token)
  return "Bearer " .. token
end

local function get_one()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/orders/" .. id, { Authorization = bearer(pick(readers)) })
end

local function post_one()
  local headers = { ["Content-Type"] = "application/json", Authorization = bearer(pick(writers)) }
  return wrk.format("POST", "/orders", headers, post_body)
end

-- A key no run has used: this run's start, the thread and a counter (no replays, every request claims one).
local key_prefix
local keys_sent = 0

local function keyed_post()
  keys_sent = keys_sent + 1
  local headers = {
    ["Content-Type"] = "application/json",
    Authorization = bearer(pick(writers)),
    ["Idempotency-Key"] = string.format('"%s-%d"', key_prefix, keys_sent),
  }
  return wrk.format("POST", "/orders", headers, post_body)
end

local function transition()
  local id = ids[math.random(#ids)]
  local action = (math.random(2) == 1) and "/pay" or "/cancel"
  return wrk.format("POST", "/orders/" .. id .. action, { Authorization = bearer(pick(readers)) })
end

local builders = {
  hello = function()
    return wrk.format("GET", "/hello", { Authorization = bearer(pick(readers)) })
  end,
  get = get_one,
  post = post_one,
  keyed_post = keyed_post,
  list = function()
    return wrk.format("GET", "/orders?limit=50", { Authorization = bearer(pick(readers)) })
  end,
  mix = function()
    -- 70% GET one order, 20% POST, 10% pay or cancel (some of which hit 409 on purpose).
    local roll = math.random(100)
    if roll <= 70 then
      return get_one()
    elseif roll <= 90 then
      return post_one()
    end
    return transition()
  end,
}

setup = statuses.setup
response = statuses.count

function init(args)
  scenario = args[1]
  dofile(args[2])
  readers, writers, ids = bench_readers, bench_writers, bench_ids
  math.randomseed(os.time() * 1000 + id)
  next_token = id * 7919
  key_prefix = string.format("%d-%d-%d", os.time(), id, math.random(1000000000))
  request = builders[scenario]
  if request == nil then
    error("unknown scenario " .. tostring(scenario))
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}, '
      .. '"statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status, statuses.json()
  ))
end
