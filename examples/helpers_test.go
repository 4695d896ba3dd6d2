package examples_test

import (
	"context"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// loggedIn returns a Source for srv's client, with a logged-in token in a
// MemoryStore (the tokensource examples show the ways to make one).
func loggedIn(srv *tokensourcetest.Server) (*tokensource.Source, error) {
	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, srv.Login()); err != nil {
		return nil, err
	}
	return tokensource.FromConfig(ctx, srv.Config(), store, nil), nil
}

// revoke revokes src's current token at srv, as an administrator or
// another device would.
func revoke(srv *tokensourcetest.Server, src *tokensource.Source) error {
	tok, err := src.Token()
	if err != nil {
		return err
	}
	srv.RevokeAccessToken(tok.AccessToken)
	return nil
}
