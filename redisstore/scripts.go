package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts, each run atomically by Redis, each on one key.

// putRecord sets the record KEYS[1] to ARGV[3] if it holds ARGV[2] (when
// ARGV[1] is "1") or does not exist (when ARGV[1] is "0"). It returns 1 if
// it wrote, 0 if the record was not what the caller read.
var putRecord = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
	if cur then return 0 end
elseif cur ~= ARGV[2] then
	return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
`)

// acquireLease takes the lease KEYS[1] for the owner value ARGV[1], for
// ARGV[2] milliseconds, if it is free. It returns 0 when the lease is the
// caller's, and otherwise the milliseconds left on the holder's lease (-1 if
// it has no TTL). A lease that already holds ARGV[1] is the caller's: a
// command the client retried after its first attempt was applied.
var acquireLease = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
	return 0
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == 0 then return 1 end
return ttl
`)

// renewLease sets the TTL of the lease KEYS[1] to ARGV[2] milliseconds if
// it holds the owner value ARGV[1]. It returns 1 if it did, 0 if the lease
// expired or another holder has it.
var renewLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseLease deletes the lease KEYS[1] if it holds the owner value
// ARGV[1], so that a holder whose lease expired never deletes the next
// holder's. It returns 1 if it deleted it.
var releaseLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)
