-- What every wrk script here shares: each thread numbered and remembered, its responses counted by status,
-- and the counts of all threads summed into the JSON members of the summary line's "statuses".
--
-- Usage, from a script beside it or elsewhere:
--   local statuses = dofile(here .. "wrk_statuses.lua")
--   setup = statuses.setup        -- each thread gets its number as the global `id` (1, 2, ...)
--   response = statuses.count     -- or a response() of its own that calls statuses.count(status)
--   ... statuses.json() in done()

local statuses = { threads = {} }

-- Global, not local: done() runs in wrk's main Lua state and reads each thread's back with thread:get().
counts = {}

function statuses.setup(thread)
  thread:set("id", #statuses.threads + 1)
  table.insert(statuses.threads, thread)
end

function statuses.count(status)
  counts[status] = (counts[status] or 0) + 1
end

-- Every thread's counts summed, as JSON object members: "200": 1234, "409": 5
function statuses.json()
  local by_status = {}
  for _, thread in ipairs(statuses.threads) do
    for status, n in pairs(thread:get("counts")) do
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(by_status) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  return table.concat(parts, ", ")
end

return statuses
