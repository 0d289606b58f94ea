-- wrk script for bench/run.py's scan loads (issue 5): a Scan driven by wrk, not
-- by a Python client.
--
--   wrk -tN -cN -s scan.lua URL -- PAGES_0 ... PAGES_N-1
--
-- One connection per wrk thread (-t and -c equal), one file per thread: thread i
-- sends the Scan pages of PAGES_i in order and cycles. Each file holds records
-- "<byte length> <items>\n<raw request>": one SigV4-signed Scan call per page
-- (its ExclusiveStartKey recorded by run.py's untimed first pass, signed there
-- with botocore since wrk's Lua cannot compute HMAC-SHA256) and the number of
-- items the first pass got for that page. `scan` is one file (one client paging),
-- `scan-4seg` four (Segment 0..3 of TotalSegments 4, one per connection).
--
-- One connection answers in order, so the response that arrives is the page
-- last sent: response() adds that page's items when the answer is a 200 whose
-- "Count" is the recorded one (else it counts a mismatch), and times it with
-- CLOCK_MONOTONIC (LuaJIT FFI). wrk stops a thread with its last page in
-- flight; that page is neither counted nor timed.
--
-- done() writes, per thread, the items and pages served, the time from its
-- first request sent to its last answer received, the mismatches and each
-- page's latency (microseconds), as JSON to $BENCH_RESULT for run.py.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs, counts, n, idx = {}, {}, 0, 0
local sent_at = 0
-- read by done() through thread:get
items, pages, mismatch, first_us, last_us = 0, 0, 0, 0, 0
lat = {}

function init(args)
  local path = args[(tid or 0) + 1]
  assert(path, "scan.lua: no page file for thread " .. tostring(tid))
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local pos, len = 1, #data
  while pos <= len do
    local nl = data:find("\n", pos, true)
    local rl, cnt = data:sub(pos, nl - 1):match("^(%d+) (%d+)$")
    rl = tonumber(rl)
    n = n + 1
    reqs[n], counts[n] = data:sub(nl + 1, nl + rl), tonumber(cnt)
    pos = nl + 1 + rl
  end
  assert(n > 0, "scan.lua: " .. path .. " holds no page")
end

function request()
  idx = idx % n + 1
  sent_at = now_us()
  if first_us == 0 then first_us = sent_at end
  return reqs[idx]
end

-- the "Count" member of a Scan answer: near one end of the body on every server
-- we run (Items holds the rest), else anywhere in it
local function count_of(body)
  local pat = '"Count":%s*(%d+)'
  local c = body:sub(1, 256):match(pat) or body:sub(-1024):match(pat)
  if not c then c = body:match(pat) end
  return tonumber(c)
end

function response(status, headers, body)
  local t = now_us()
  last_us = t
  pages = pages + 1
  lat[pages] = math.floor(t - sent_at + 0.5)
  if status == 200 and count_of(body) == counts[idx] then
    items = items + counts[idx]
  else
    mismatch = mismatch + 1
  end
end

function done(summary, latency, requests)
  local out = os.getenv("BENCH_RESULT")
  if not out then return end
  local e = summary.errors
  local f = assert(io.open(out, "w"))
  f:write(string.format(
    '{"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"threads":[',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout))
  for i, t in ipairs(threads) do
    local l = t:get("lat") or {}
    f:write(string.format('%s{"items":%d,"pages":%d,"mismatch":%d,"first_us":%.0f,"last_us":%.0f,"lat":[%s]}',
      i > 1 and "," or "", t:get("items"), t:get("pages"), t:get("mismatch"), t:get("first_us"), t:get("last_us"),
      table.concat(l, ",")))
  end
  f:write("]}\n")
  f:close()
end
