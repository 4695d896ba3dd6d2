package pgstore

import (
	"github.com/jackc/pgx/v5"

	"github.com/oauthkit/tokensource"
)

// DefaultTable is the table a Store uses when Options.Table is empty.
const DefaultTable = "tokensource_tokens"

// Options name the table of a Store. A nil *Options means all defaults.
type Options struct {
	// Schema is the table's schema; "" means the first schema of the
	// search_path that has the table (CreateTable: the first one that
	// exists). Stores that differ only in how they name the schema share
	// their locks, so they never fail to exclude each other.
	Schema string

	// Table is the table's name, used as it is (quoted, case kept); ""
	// means DefaultTable.
	Table string

	// Encrypter, when not nil, encrypts the record, bound to its table and
	// key, so that the row, a dump or a read-only role reveals no token
	// (see [tokensource.Records].Encrypter). A row written in plain text
	// still loads, and is encrypted at its next write, unless
	// RequireEncryption.
	Encrypter tokensource.Encrypter

	// RequireEncryption makes a row in plain text corrupt: Load fails with
	// an error wrapping [tokensource.ErrCorrupt].
	RequireEncryption bool
}

// ident returns the quoted, schema-qualified name of the table.
func (o *Options) ident() string {
	if o == nil {
		o = &Options{}
	}
	id := pgx.Identifier{tableName(o)}
	if o.Schema != "" {
		id = append(pgx.Identifier{o.Schema}, id...)
	}
	return id.Sanitize()
}

// tableName returns the table's name, without its schema.
func tableName(o *Options) string {
	if o == nil || o.Table == "" {
		return DefaultTable
	}
	return o.Table
}
