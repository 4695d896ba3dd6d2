package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/oauthkit/tokensource"
)

// The schema of the table, %s its quoted name. The package documentation
// shows it.
const createSQL = `CREATE TABLE IF NOT EXISTS %s (
	key        text PRIMARY KEY,
	token      text NOT NULL,
	expiry     timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now()
)`

// statements are the statements of a Store, on its table. The comparison
// of update is in the "C" collation: byte for byte, whatever the column's.
type statements struct {
	get, insert, update string
}

func newStatements(table string) statements {
	return statements{
		get: fmt.Sprintf(`SELECT token FROM %s WHERE key = $1`, table),
		insert: fmt.Sprintf(`INSERT INTO %s (key, token, expiry, updated_at) VALUES ($1, $2, $3, now())
	ON CONFLICT (key) DO NOTHING`, table),
		update: fmt.Sprintf(`UPDATE %s SET token = $2, expiry = $3, updated_at = now()
	WHERE key = $1 AND token = $4 COLLATE "C"`, table),
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
		return &tokensource.StoreError{Op: "create", Where: "table " + table, Err: err}
	}
	return nil
}
