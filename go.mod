module github.com/oauthkit/tokensource

go 1.26.0

require (
	github.com/google/go-cmp v0.7.0
	go.uber.org/goleak v1.3.0
	golang.org/x/oauth2 v0.38.0
)
