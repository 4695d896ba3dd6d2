package tokensource_test

import (
	"context"
	"fmt"
	"log"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// Two observers of one Source: metrics (otelsource's Hooks, say) and an
// audit of its own. JoinHooks calls both.
func ExampleJoinHooks() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	calls := 0
	metrics := &tokensource.Hooks{RefreshDone: func(context.Context, tokensource.RefreshDoneInfo) { calls++ }}
	audit := &tokensource.Hooks{
		RefreshDone: func(_ context.Context, info tokensource.RefreshDoneInfo) {
			fmt.Println("audit: refresh", info.Reason, info.Outcome)
		},
		Invalidated: func(context.Context, tokensource.InvalidatedInfo) { fmt.Println("audit: token rejected") },
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, &tokensource.Options{Hooks: tokensource.JoinHooks(metrics, audit)})

	tok, err := src.TokenContext(ctx)
	if err != nil {
		log.Fatal(err)
	}
	src.InvalidateContext(ctx, tok) // a server answered 401
	if _, err := src.TokenContext(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("RefreshDone calls counted:", calls)
	// Output:
	// audit: refresh missing loaded
	// audit: token rejected
	// audit: refresh rejected refreshed
	// RefreshDone calls counted: 2
}
