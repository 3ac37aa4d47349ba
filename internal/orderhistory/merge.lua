-- merge.lua applies events, each to one order's history record, all in
-- one atomic step. mergeFor (consume.go) builds each event's arguments;
-- the package documentation gives the rules and why they make the result
-- independent of arrival order and of repeated deliveries.
--
-- Each event is a call: KEYS has two keys per call, the hash of the
-- order's bucket (a field per order, whose value is the order's record:
-- a JSON object whose values are all strings) and the user's sorted set
-- of order ids; ARGV has first the command that publishes a changed
-- record (PUBLISH, or SPUBLISH on a Redis Cluster, whose channel is in
-- the keys' slot) and the rank of the final statuses, then, per call,
-- the number of its arguments and then the arguments. Returns one result
-- per call: 1 when the record changed and was published, 0 when it was
-- not (see announce below), or the call's error message, a string, when
-- it was refused; a refused call changes nothing, and the others are
-- applied all the same.
--
-- The script reads the records of all its calls with one HMGET per
-- bucket, merges the calls into them in order, and writes the records
-- that changed with one HSET per bucket: the orders of a batch are of
-- the same minute, so most runs read and write one bucket.

-- merge applies one call to cur, the order's record, which it changes in
-- place. It returns the call's result and whether cur changed.
local function merge(publish, finalRank, cur, userKey, ARGV)
  local kind, orderId, userId = ARGV[1], ARGV[2], ARGV[3]
  local at, atMs, by, channel = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local code, name, rank, paymentId = ARGV[8], ARGV[9], tonumber(ARGV[10]), ARGV[11]
  -- appliedAt is the service's clock now: statusAt, bookkeeping, records
  -- when the record took its current status, for the operations page.
  local version, appliedAt = ARGV[12], ARGV[13]

  if kind ~= 'placed' and kind ~= 'paid' and kind ~= 'scored' then
    return 'ERR unknown event kind ' .. kind, false
  end
  if cur.userId and cur.userId ~= userId then
    return 'USERMISMATCH order ' .. orderId .. ' belongs to another user than the event says', false
  end

  local bookkeeping = { statusRank = true, statusAt = true, placedVersion = true, scoredVersion = true }
  local changed, visible, statusChanged = false, false, false
  local function set(field, value)
    if cur[field] ~= value then
      cur[field] = value
      changed = true
      visible = visible or not bookkeeping[field]
      statusChanged = statusChanged or field == 'status'
    end
  end

  set('orderId', orderId)
  set('userId', userId)

  -- Status moves forward only: the greatest (rank, paymentId, code) wins.
  -- The last two only break ties between the two final statuses, which
  -- rank the same.
  local function statusWins()
    local r = tonumber(cur.statusRank)
    if r == nil or rank > r then return true end
    if rank < r then return false end
    local p = cur.paymentId or ''
    if paymentId ~= p then return paymentId > p end
    return tonumber(code) > tonumber(cur.status)
  end
  local statusWon = statusWins()
  if statusWon then
    set('status', code)
    set('statusName', name)
    set('statusRank', ARGV[10])
    set('paymentId', paymentId)
    set('statusAt', appliedAt)
  end

  -- The latest event time wins; equal times are broken by the updater.
  local lu = cur.lastUpdatedOn
  if lu == nil or at > lu or (at == lu and by > (cur.lastUpdatedBy or '')) then
    set('lastUpdatedOn', at)
    set('lastUpdatedBy', by)
  end

  -- A group of fields written by one kind of event, whose version is kept
  -- in versionField: the greatest version (event time, then event id) wins.
  -- fields alternates names and values. Returns whether this event won.
  local function setGroup(versionField, fields)
    if cur[versionField] ~= nil and version <= cur[versionField] then
      return false
    end
    set(versionField, version)
    for i = 1, #fields, 2 do
      set(fields[i], fields[i + 1])
    end
    return true
  end

  if kind == 'placed' then
    if setGroup('placedVersion', { 'items', ARGV[14], 'amountCents', ARGV[15], 'createdOn', ARGV[16], 'createdBy', ARGV[18] }) then
      redis.call('ZADD', userKey, ARGV[17], orderId)
    end
  elseif kind == 'paid' then
    -- Until the order itself is known, the winning payment's amount stands
    -- in for it.
    if statusWon and cur.placedVersion == nil then
      set('amountCents', ARGV[14])
    end
  else -- scored
    setGroup('scoredVersion', { 'identityScore', ARGV[14], 'potentialFraud', ARGV[15] })
  end

  -- An order not placed yet is listed by the earliest event known of it.
  if cur.placedVersion == nil then
    redis.call('ZADD', userKey, 'LT', atMs, orderId)
  end

  -- A change is announced when the shopper sees it: when the status
  -- changed (the first event of an order makes it), or when any field
  -- the shopper sees changed once the status is final. A change that
  -- keeps a status short of final (an identity score, or the order's
  -- items after its score) reaches the shopper with the final status,
  -- whose announcement carries the whole record.
  local announce = statusChanged or (visible and tonumber(cur.statusRank) >= finalRank)
  if not announce then
    return 0, changed
  end
  if channel ~= '' then
    -- The record in the HTTP API's shape. Numbers, booleans and items were
    -- written by the service as valid JSON; strings are escaped here.
    local function str(s) return cjson.encode(s or '') end
    local createdOn = 'null'
    if cur.createdOn then createdOn = str(cur.createdOn) end
    local record = '{"orderId":' .. str(orderId) ..
      ',"userId":' .. str(userId) ..
      ',"status":' .. cur.status ..
      ',"statusName":' .. str(cur.statusName) ..
      ',"amountCents":' .. (cur.amountCents or '0') ..
      ',"paymentId":' .. str(cur.paymentId) ..
      ',"items":' .. (cur.items or '[]') ..
      ',"createdOn":' .. createdOn ..
      ',"createdBy":' .. str(cur.createdBy) ..
      ',"lastUpdatedOn":' .. str(cur.lastUpdatedOn) ..
      ',"lastUpdatedBy":' .. str(cur.lastUpdatedBy) ..
      ',"identityScore":' .. (cur.identityScore or 'null') ..
      ',"potentialFraud":' .. (cur.potentialFraud or 'false') .. '}'
    redis.call(publish, channel, record)
  end
  return 1, changed
end

local publish, finalRank = ARGV[1], tonumber(ARGV[2])
if publish ~= 'PUBLISH' and publish ~= 'SPUBLISH' then
  return redis.error_reply('ERR merge: the first argument must be PUBLISH or SPUBLISH')
end
if finalRank == nil then
  return redis.error_reply('ERR merge: the second argument must be the rank of the final statuses')
end

-- The calls, and the order ids of each bucket that they name, once each.
local calls, buckets, ids, a = {}, {}, {}, 3
for i = 1, #KEYS, 2 do
  local n = tonumber(ARGV[a])
  local args = { unpack(ARGV, a + 1, a + n) }
  local bucket, orderId = KEYS[i], args[2]
  calls[#calls + 1] = { bucket = bucket, userKey = KEYS[i + 1], args = args }
  if ids[bucket] == nil then
    ids[bucket] = { seen = {} }
    buckets[#buckets + 1] = bucket
  end
  if not ids[bucket].seen[orderId] then
    ids[bucket].seen[orderId] = true
    table.insert(ids[bucket], orderId)
  end
  a = a + n + 1
end

-- records[bucket][orderId] is the record, {} for an order with none, or
-- false for one whose stored value does not decode (its calls are refused).
local records = {}
for _, bucket in ipairs(buckets) do
  local vals = redis.call('HMGET', bucket, unpack(ids[bucket]))
  records[bucket] = {}
  for i, orderId in ipairs(ids[bucket]) do
    local rec = {}
    if vals[i] then
      local ok, decoded = pcall(cjson.decode, vals[i])
      rec = ok and type(decoded) == 'table' and decoded
    end
    records[bucket][orderId] = rec
  end
end

local results, dirty = {}, {}
for i, c in ipairs(calls) do
  local orderId = c.args[2]
  local cur = records[c.bucket][orderId]
  if not cur then
    results[i] = 'ERR the record of order ' .. orderId .. ' is corrupt'
  else
    local result, changed = merge(publish, finalRank, cur, c.userKey, c.args)
    results[i] = result
    if changed then
      dirty[c.bucket] = dirty[c.bucket] or { seen = {} }
      if not dirty[c.bucket].seen[orderId] then
        dirty[c.bucket].seen[orderId] = true
        table.insert(dirty[c.bucket], orderId)
      end
    end
  end
end

for _, bucket in ipairs(buckets) do
  local d = dirty[bucket]
  if d then
    local args = {}
    for _, orderId in ipairs(d) do
      args[#args + 1] = orderId
      args[#args + 1] = cjson.encode(records[bucket][orderId])
    end
    redis.call('HSET', bucket, unpack(args))
  end
end
return results
