package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/oauthkit/tokensource"
)

// The advisory lock of a key, taken by its two int4 keys.
const lockSQL = `SELECT pg_advisory_lock($1, $2)`

// How a lease's connection notices a dead peer, on both ends.
const (
	// Keepalive probes of an idle connection: the first after
	// keepaliveIdle of silence, then every keepaliveInterval, and the
	// connection is dead after keepaliveCount unanswered ones. The server
	// and the client both send them.
	keepaliveIdle     = 5 * time.Second
	keepaliveInterval = 5 * time.Second
	keepaliveCount    = 3

	// deadAfter is the server's tcp_user_timeout on the lease's session
	// (data it sent, unacknowledged for so long, ends the connection) and
	// its idle_session_timeout (a session sent nothing for so long ends:
	// its holder is stopped or cut off; a live holder pings more often).
	deadAfter = 20 * time.Second

	// checkInterval is the server's client_connection_check_interval: how
	// often a session that waits for the lock checks that its client is
	// still there.
	checkInterval = 5 * time.Second

	// The watchdog of a held lease pings its session after pingEvery of
	// silence, and declares the lease lost if the ping gets no answer
	// within pingTimeout, or the connection ends.
	pingEvery   = 3 * time.Second
	pingTimeout = 5 * time.Second

	// closeTimeout bounds the closing of a lease's connection, in the
	// background.
	closeTimeout = 5 * time.Second
)

// sessionSQL sets, on the lease's session, those of the settings above
// that the server has (idle_session_timeout and
// client_connection_check_interval are PostgreSQL 14's).
var sessionSQL = fmt.Sprintf(`SELECT count(set_config(name, setting, false)) FROM (VALUES
	('tcp_keepalives_idle', '%d'),
	('tcp_keepalives_interval', '%d'),
	('tcp_keepalives_count', '%d'),
	('tcp_user_timeout', '%d'),
	('idle_session_timeout', '%d'),
	('client_connection_check_interval', '%d')
) AS s(name, setting) WHERE current_setting(name, true) IS NOT NULL`,
	keepaliveIdle/time.Second, keepaliveInterval/time.Second, keepaliveCount,
	deadAfter.Milliseconds(), deadAfter.Milliseconds(), checkInterval.Milliseconds())

// Lease takes the Store's lock and returns it as a [tokensource.Lease]: a
// session-level advisory lock, on a connection that the Lease opens for
// itself with the pool's configuration (and its BeforeConnect and
// AfterConnect hooks), so that no connection of the pool is held while the
// lock is awaited or held. It excludes every other Lease and Lock on the
// same table name and key, in any process, through any Store. It waits for
// the connection and the lock no longer than ctx; its error then names the
// table and key and wraps ctx's error. When Lease fails, the lock is not
// held: the connection is closed, in the background.
//
// While the lease is held, a watchdog pings its session every few seconds.
// The lease is lost, and Lost closed, when the session ends (it was
// terminated, the server went away) or a ping goes unanswered for
// seconds. The server frees the lock of a holder that died, was cut off
// by the network or was stopped, within about 20 seconds; see the package
// documentation.
//
// Release closes the connection, in the background, which ends the
// session and frees the lock.
func (s *Store) Lease(ctx context.Context) (tokensource.Lease, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, s.lockError(ctx, err)
	}
	if _, err := conn.Exec(ctx, lockSQL, s.lock[0], s.lock[1]); err != nil {
		// Whether the server granted the lock before the wait failed
		// cannot be told here; ending the session settles it.
		go closeConn(conn)
		return nil, s.lockError(ctx, err)
	}
	l := &lease{conn: conn, lost: make(chan struct{})}
	l.ctx, l.release = context.WithCancel(context.Background())
	go l.watch()
	return l, nil
}

// lockError is the error of a Lease that failed with err.
func (s *Store) lockError(ctx context.Context, err error) error {
	return &tokensource.StoreError{Op: "lock", Where: s.where, Err: withEnd(ctx, err)}
}

// withEnd is err, wrapping ctx's error too when ctx has ended: a dial that
// times out at ctx's deadline can fail before ctx's own timer has marked it
// done, with an error that says only "i/o timeout".
func withEnd(ctx context.Context, err error) error {
	end := ctx.Err()
	if d, ok := ctx.Deadline(); ok && end == nil && !time.Now().Before(d) {
		end = context.DeadlineExceeded
	}
	if end != nil && !errors.Is(err, end) {
		return fmt.Errorf("%w: %w", end, err)
	}
	return err
}

// Lock takes the Store's lock, as Lease does, and returns the lease's
// Release as unlock. Calling unlock more than once is harmless; it returns
// at once, and the lock is freed in the background.
func (s *Store) Lock(ctx context.Context) (unlock func(), err error) {
	l, err := s.Lease(ctx)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// connect opens a connection for a lease: the pool's configuration, with
// TCP keepalive on the client's end, and the session settings that make
// the server notice a dead client.
func (s *Store) connect(ctx context.Context) (*pgx.Conn, error) {
	pc := s.pool.Config()
	cfg := pc.ConnConfig
	// One round trip per statement; a lease's connection runs each once.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	// A context that ends ends the wait on the connection at once, whatever
	// the pool does (a cancel request would let the watchdog's waits and
	// Release hang on a server that does not answer).
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	if dial := cfg.DialFunc; dial != nil {
		cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetKeepAliveConfig(net.KeepAliveConfig{
					Enable: true, Idle: keepaliveIdle, Interval: keepaliveInterval, Count: keepaliveCount,
				})
			}
			return c, err
		}
	}
	if pc.BeforeConnect != nil {
		if err := pc.BeforeConnect(ctx, cfg); err != nil {
			return nil, err
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if pc.AfterConnect != nil {
		err = pc.AfterConnect(ctx, conn)
	}
	if err == nil {
		_, err = conn.Exec(ctx, sessionSQL)
	}
	if err != nil {
		go closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// closeConn closes conn, which ends its session and frees its lock, if
// any.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	conn.Close(ctx)
}

// lease is a held lock: the connection whose session holds it, which its
// watchdog alone uses.
type lease struct {
	conn    *pgx.Conn
	lost    chan struct{}
	ctx     context.Context // done once released
	release context.CancelFunc
}

func (l *lease) Lost() <-chan struct{} { return l.lost }

// Release frees the lock: the watchdog closes the connection.
func (l *lease) Release() { l.release() }

// watch waits on the connection for the server to end the session, pings
// it when it was silent for pingEvery, and closes lost when the session
// ends or a ping fails, until Release. Then it closes the connection.
func (l *lease) watch() {
	defer closeConn(l.conn)
	for {
		wait, cancel := context.WithTimeout(l.ctx, pingEvery)
		_, err := l.conn.WaitForNotification(wait)
		cancel()
		switch {
		case l.ctx.Err() != nil:
			return
		case err == nil: // a notification, which nobody asked for
			continue
		case l.conn.IsClosed(): // the session ended
			l.lose()
			return
		}
		ping, cancel := context.WithTimeout(l.ctx, pingTimeout)
		err = l.conn.Ping(ping)
		cancel()
		if l.ctx.Err() != nil {
			return
		}
		if err != nil {
			l.lose()
			return
		}
	}
}

// lose closes lost, unless the lease was released.
func (l *lease) lose() {
	if l.ctx.Err() == nil {
		close(l.lost)
	}
}

// lockID returns the two keys of the advisory lock of key in table: the
// high and low halves of the 64-bit FNV-1a hash of the table name, a zero
// byte and the key. The schema is left out, so that every spelling of one
// table locks alike.
func lockID(table, key string) [2]int32 {
	h := fnv.New64a()
	h.Write([]byte(table))
	h.Write([]byte{0})
	h.Write([]byte(key))
	v := h.Sum64()
	return [2]int32{int32(v >> 32), int32(v)}
}
