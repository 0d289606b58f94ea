-- wrk script for bench/run.py (issue 5). One script, three kinds of load:
--
--   -- file PATH          cycle through pre-built raw HTTP requests (SigV4-signed
--                         DynamoDB calls made by run.py with botocore; wrk's Lua
--                         cannot compute HMAC-SHA256). PATH holds records
--                         "<byte length>\n<raw request>"; each thread starts at
--                         its own offset and cycles.
--   -- rest-get TABLE NKEYS KEYFMT AUTH   GET /v1/tenant/dev/table/TABLE/id/<key>
--                         with a uniformly random key of NKEYS; HTTP Basic AUTH
--                         (base64 of KEY:SECRET) is static, so wrk can send it.
--   -- rest-put TABLE VLEN AUTH          PUT a new entry (unique id per request and run,
--                         PUT creates; an existing id would be 409) of VLEN chars.
--
-- done() writes the summary and latency percentiles (microseconds) as JSON to
-- $BENCH_RESULT for run.py.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs, n, idx = {}, 0, 0
local kind

local function load_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local pos, len = 1, #data
  while pos <= len do
    local nl = data:find("\n", pos, true)
    local rl = tonumber(data:sub(pos, nl - 1))
    n = n + 1
    reqs[n] = data:sub(nl + 1, nl + rl)
    pos = nl + 1 + rl
  end
end

local put_table, put_body, put_auth, put_seq, put_run
function init(args)
  kind = args[1]
  math.randomseed(1234 + (tid or 0) * 7919)
  if kind == "file" then
    load_file(args[2])
    idx = math.floor(n * (tid or 0) / 2) % n
  elseif kind == "rest-get" then
    local tbl, nkeys, fmt, auth = args[2], tonumber(args[3]), args[4], args[5]
    local hdr = { ["Authorization"] = "Basic " .. auth }
    for i = 0, nkeys - 1 do
      n = n + 1
      reqs[n] = wrk.format("GET", "/v1/tenant/dev/table/" .. tbl .. "/id/" .. string.format(fmt, i), hdr)
    end
  elseif kind == "rest-put" then
    put_table, put_auth = args[2], args[4]
    put_body = '{"v":"' .. string.rep("x", tonumber(args[3])) .. '"}'
    put_seq = 0
    -- a fresh prefix per run (warm-up and measured runs must not reuse ids)
    local f = assert(io.open("/dev/urandom", "rb"))
    local r = f:read(6)
    f:close()
    put_run = r:gsub(".", function(c) return string.format("%02x", c:byte()) end)
  else
    error("load.lua: unknown kind " .. tostring(kind))
  end
end

function request()
  if kind == "file" then
    idx = idx % n + 1
    return reqs[idx]
  elseif kind == "rest-get" then
    return reqs[math.random(n)]
  else
    put_seq = put_seq + 1
    return wrk.format("PUT", "/v1/tenant/dev/table/" .. put_table .. "/id/r" .. put_run .. "-" .. tid .. "-" .. put_seq,
      { ["Authorization"] = "Basic " .. put_auth, ["Content-Type"] = "application/json" }, put_body)
  end
end

function done(summary, latency, requests)
  local out = os.getenv("BENCH_RESULT")
  if not out then return end
  local e = summary.errors
  local f = assert(io.open(out, "w"))
  f:write(string.format(
    '{"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"p999":%d,"mean":%.1f,"max":%d}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
  f:close()
end
