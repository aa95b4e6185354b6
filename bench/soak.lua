-- bench/scenario.lua at a constant rate, for the soak (bench/soak.py). wrk has no rate option (wrk2,
-- which has, is not packaged by Debian): wrk calls delay() before each request of each connection,
-- and this script answers with the time left until the thread's next free send slot.
--
-- Usage: wrk -s bench/soak.lua URL -- SCENARIO DATA_FILE RATE_PER_THREAD
--
-- Slots are one interval apart on a monotonic clock, whichever connection takes them; a thread that
-- falls behind does not catch up in a burst (the next slot is never earlier than now), so an
-- overloaded server shows as a lower achieved rate, which the soak checks every minute. Latency is
-- wrk's own: from the send, the wait for the slot excluded.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "scenario.lua")

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
int clock_gettime(int clock_id, soak_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local clock = ffi.new("soak_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local interval_ms, next_slot
local scenario_init = init

function init(args)
  scenario_init(args)
  local rate = tonumber(args[3])
  if rate == nil or rate <= 0 then
    error("soak.lua needs a positive rate per thread as its third argument, got " .. tostring(args[3]))
  end
  interval_ms = 1000 / rate
end

function delay()
  local now = now_ms()
  if next_slot == nil or next_slot < now then
    next_slot = now
  end
  local wait = next_slot - now
  next_slot = next_slot + interval_ms
  return math.floor(wait + 0.5)
end
