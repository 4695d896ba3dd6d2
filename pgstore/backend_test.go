package pgstore

import (
	"testing"

	"github.com/oauthkit/tokensource"
)

// The interfaces a Store implements; TestConformance checks their
// contracts.
var (
	_ tokensource.Backend = (*Store)(nil)
	_ tokensource.Leaser  = (*Store)(nil)
	_ tokensource.Locker  = (*Store)(nil)
)

// mustEncode returns the record of generation gen that holds
// fullToken(access).
func mustEncode(t testing.TB, gen int64, access string) []byte {
	t.Helper()
	data, err := tokensource.EncodeRecord(&tokensource.Record{Generation: gen, Token: fullToken(access)})
	if err != nil {
		t.Fatal(err)
	}
	return data
}
