package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts, each run atomically by Redis. The token key and the
// lease key share a hash tag, so on Redis Cluster both are in the slot the
// script runs in.

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

// releaseLease deletes the lease KEYS[1] if it holds the owner value
// ARGV[1], so that a holder whose lease expired never deletes the next
// holder's. It returns 1 if it deleted it.
var releaseLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// fencedWrite sets the token key KEYS[2] to ARGV[2], or deletes it when
// there is no ARGV[2], if the lease KEYS[1] holds the owner value ARGV[1].
// It returns 1 if it wrote, 0 if the lease is not the caller's.
var fencedWrite = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] then
	redis.call('SET', KEYS[2], ARGV[2])
else
	redis.call('DEL', KEYS[2])
end
return 1
`)
