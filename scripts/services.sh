# Throwaway Redis and PostgreSQL servers on loopback, for the store tests.
# Source this file, then call start_services: it starts what is installed,
# exports the addresses, and stops both servers when the shell exits.
#
#   TOKENSOURCE_REDIS_ADDR      host:port of a redis-server
#   TOKENSOURCE_POSTGRES_URL    postgres://… URL of a PostgreSQL cluster
#   TOKENSOURCE_REDIS_SERVER    the redis-server binary, for tests that start their own
#   TOKENSOURCE_PG_BIN          the directory holding initdb and pg_ctl, likewise
#
# A server that is not installed is skipped with a message; the tests that
# need it then skip, or fail when TOKENSOURCE_REQUIRE_SERVERS=1 (as under CI).

services_dir=""

# free_port prints a TCP port on 127.0.0.1 that nothing listens on, below
# Linux's range of ports for outgoing connections (32768 and up), which
# could take it before the server binds it.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((15000 + RANDOM % 17000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "services: no free port found" >&2
	return 1
}

# pg_bin prints the directory of PostgreSQL's server binaries, or nothing.
pg_bin() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return; }
	done
	command -v initdb >/dev/null && dirname "$(command -v initdb)"
	return 0
}

# as_pg runs a command as the postgres user when root (initdb refuses root).
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# redis_up waits up to 5 s for a redis-server to respond on port.
redis_up() {
	for _ in $(seq 50); do
		redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

start_redis() {
	local bin port
	bin=$(command -v redis-server || true)
	if [ -z "$bin" ]; then
		echo "services: redis-server not installed; Redis tests will skip" >&2
		return
	fi
	mkdir -p "$services_dir/redis"
	for _ in 1 2 3; do
		port=$(free_port)
		"$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
			--dir "$services_dir/redis" --daemonize yes \
			--pidfile "$services_dir/redis/redis.pid" --logfile "$services_dir/redis/log" >/dev/null
		redis_up "$port" && break
	done
	redis_up "$port" || {
		echo "services: redis-server did not start:" >&2
		tail -5 "$services_dir/redis/log" >&2
		return 1
	}
	export TOKENSOURCE_REDIS_ADDR="127.0.0.1:$port" TOKENSOURCE_REDIS_SERVER="$bin"
	echo "services: redis-server on $TOKENSOURCE_REDIS_ADDR"
}

start_postgres() {
	local bin port data
	bin=$(pg_bin)
	if [ -z "$bin" ]; then
		echo "services: PostgreSQL (initdb, pg_ctl) not installed; PostgreSQL tests will skip" >&2
		return
	fi
	data="$services_dir/pg"
	mkdir -p "$data"
	[ "$(id -u)" = 0 ] && chown postgres "$services_dir" "$data"
	as_pg "$bin/initdb" -D "$data" -U tokensource --auth=trust -E UTF8 >"$services_dir/initdb.log" 2>&1 || {
		cat "$services_dir/initdb.log" >&2
		return 1
	}
	for try in 1 2 3; do
		port=$(free_port)
		as_pg "$bin/pg_ctl" -D "$data" -l "$data/log" -w \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $data -c max_connections=200" start >/dev/null && break
		[ "$try" = 3 ] && {
			echo "services: PostgreSQL did not start:" >&2
			tail -5 "$data/log" >&2
			return 1
		}
	done
	export TOKENSOURCE_POSTGRES_URL="postgres://tokensource@127.0.0.1:$port/postgres?sslmode=disable" TOKENSOURCE_PG_BIN="$bin"
	echo "services: PostgreSQL on 127.0.0.1:$port"
}

stop_services() {
	[ -n "$services_dir" ] || return 0
	if [ -f "$services_dir/redis/redis.pid" ]; then
		kill "$(cat "$services_dir/redis/redis.pid")" 2>/dev/null || true
	fi
	if [ -f "$services_dir/pg/postmaster.pid" ]; then
		as_pg "$TOKENSOURCE_PG_BIN/pg_ctl" -D "$services_dir/pg" -m immediate stop >/dev/null 2>&1 || true
	fi
	rm -rf "$services_dir"
}

start_services() {
	services_dir=$(mktemp -d /tmp/tokensource-services.XXXXXX)
	chmod 755 "$services_dir"
	trap stop_services EXIT
	start_redis
	start_postgres
}
