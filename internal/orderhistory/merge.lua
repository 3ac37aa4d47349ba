-- merge.lua applies events, each to one order's history record, all in
-- one atomic step. merge.go documents the arguments; the package
-- documentation gives the rules and why they make the result independent
-- of arrival order and of repeated deliveries.
--
-- Each event is a call: KEYS has two keys per call, the order's hash and
-- the user's sorted set of order ids; ARGV has first the command that
-- publishes a changed record (PUBLISH, or SPUBLISH on a Redis Cluster,
-- whose channel is in the keys' slot), then, per call, the number of its
-- arguments and then the arguments. Returns one result per call: 1
-- when a field of the record changed (and the record was published), 0
-- when none did (a change of bookkeeping fields alone is written but not
-- announced), or the call's error message, a string, when it was refused;
-- a refused call changes nothing, and the others are applied all the same.
local function merge(publish, orderKey, userKey, ARGV)
  local kind, orderId, userId = ARGV[1], ARGV[2], ARGV[3]
  local at, atMs, by, channel = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local code, name, rank, paymentId = ARGV[8], ARGV[9], tonumber(ARGV[10]), ARGV[11]
  -- appliedAt is the service's clock now: statusAt, bookkeeping, records
  -- when the record took its current status, for the operations page.
  local version, appliedAt = ARGV[12], ARGV[13]

  local cur = {}
  local raw = redis.call('HGETALL', orderKey)
  for i = 1, #raw, 2 do
    cur[raw[i]] = raw[i + 1]
  end

  if cur.userId and cur.userId ~= userId then
    return 'USERMISMATCH order ' .. orderId .. ' belongs to another user than the event says'
  end

  local bookkeeping = { statusRank = true, statusAt = true, placedVersion = true, scoredVersion = true }
  local changes, visible = {}, false
  local function set(field, value)
    if cur[field] ~= value then
      cur[field] = value
      changes[#changes + 1] = field
      changes[#changes + 1] = value
      visible = visible or not bookkeeping[field]
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
  elseif kind == 'scored' then
    setGroup('scoredVersion', { 'identityScore', ARGV[14], 'potentialFraud', ARGV[15] })
  else
    return 'ERR unknown event kind ' .. kind
  end

  -- An order not placed yet is listed by the earliest event known of it.
  if cur.placedVersion == nil then
    redis.call('ZADD', userKey, 'LT', atMs, orderId)
  end

  if #changes == 0 then
    return 0
  end
  redis.call('HSET', orderKey, unpack(changes))
  if not visible then
    return 0
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
  return 1
end

local publish = ARGV[1]
if publish ~= 'PUBLISH' and publish ~= 'SPUBLISH' then
  return redis.error_reply('ERR merge: the first argument must be PUBLISH or SPUBLISH')
end
local results, a = {}, 2
for i = 1, #KEYS, 2 do
  local n = tonumber(ARGV[a])
  results[#results + 1] = merge(publish, KEYS[i], KEYS[i + 1], { unpack(ARGV, a + 1, a + n) })
  a = a + n + 1
end
return results
