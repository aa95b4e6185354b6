-- wrk script of the rolling-restart test: three GET /orders/{id} for each POST /orders, one user.
--
-- Usage: wrk -s rolling_load.lua URL -- DATA_FILE CREATED_FILE
--   DATA_FILE     Lua file defining `rolling_token` (a bearer token) and `rolling_ids` (that user's orders)
--   CREATED_FILE  where done() writes the id of every order whose POST got a 201, one per line
--
-- The last line printed is one JSON object: requests, socket errors by kind, and responses by status
-- (counted as the benchmark's scripts count them, bench/wrk_statuses.lua).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local statuses = dofile(here .. "../../bench/wrk_statuses.lua")

local token, ids
local sent = 0
-- Globals, not locals: done() runs in wrk's main Lua state and reads them back with thread:get().
created = {}
created_file = nil

local post_body = '{"order":[{"product":"latte","size":"small","quantity":1}]}'

setup = statuses.setup

function init(args)
  dofile(args[1])
  created_file = args[2]
  token, ids = rolling_token, rolling_ids
  math.randomseed(os.time() * 1000 + id)
end

function request()
  sent = sent + 1
  local auth = "Bearer " .. token
  if sent % 4 == 0 then
    return wrk.format("POST", "/orders", { ["Content-Type"] = "application/json", Authorization = auth }, post_body)
  end
  return wrk.format("GET", "/orders/" .. ids[math.random(#ids)], { Authorization = auth })
end

function response(status, headers, body)
  statuses.count(status)
  if status == 201 then
    local order_id = body:match('"id"%s*:%s*"([^"]+)"')
    if order_id then
      table.insert(created, order_id)
    end
  end
end

function done(summary, latency, requests)
  local ids_out = {}
  for _, thread in ipairs(statuses.threads) do
    for _, order_id in ipairs(thread:get("created")) do
      table.insert(ids_out, order_id)
    end
  end
  local out = assert(io.open(statuses.threads[1]:get("created_file"), "w"))
  out:write(table.concat(ids_out, "\n"))
  out:close()
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, statuses.json()
  ))
end
