package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema of the table, %s its quoted name. The package documentation
// shows it.
const createSQL = `CREATE TABLE IF NOT EXISTS %s (
	key        text PRIMARY KEY,
	token      text NOT NULL,
	expiry     timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now()
)`

// The advisory lock of a key, taken and released by its two int4 keys.
const (
	lockSQL   = `SELECT pg_advisory_lock($1, $2)`
	unlockSQL = `SELECT pg_advisory_unlock($1, $2)`
)

// heldSQL is true when this session holds the advisory lock $4, $5.
const heldSQL = `EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory'
	AND pid = pg_backend_pid() AND classid = $4::int4::oid AND objid = $5::int4::oid
	AND objsubid = 2 AND granted)`

// statements are the statements of a Store, on its table.
type statements struct {
	load, save, saveLocked, del string
}

func newStatements(table string) statements {
	upsert := `INSERT INTO %s (key, token, expiry, updated_at) SELECT $1, $2, $3, now() WHERE %s
	ON CONFLICT (key) DO UPDATE SET token = excluded.token, expiry = excluded.expiry, updated_at = excluded.updated_at`
	return statements{
		load:       fmt.Sprintf(`SELECT token FROM %s WHERE key = $1`, table),
		save:       fmt.Sprintf(upsert, table, "true"),
		saveLocked: fmt.Sprintf(upsert, table, heldSQL),
		del:        fmt.Sprintf(`DELETE FROM %s WHERE key = $1`, table),
	}
}

// CreateTable creates the table opts names, with the schema in the package
// documentation, unless a table of that name exists; it then leaves it as
// it is. It creates no schema. Replicas that start together may all call
// it: they take turns, where two plain CREATE TABLE IF NOT EXISTS at once
// can fail.
func CreateTable(ctx context.Context, pool *pgxpool.Pool, opts *Options) error {
	table := opts.ident()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		id := lockID(tableName(opts), "")
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, id[0], id[1]); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(createSQL, table))
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: cannot create table %s: %w", table, err)
	}
	return nil
}
