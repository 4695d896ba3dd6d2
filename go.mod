module github.com/oauthkit/tokensource

go 1.26.0

require (
	github.com/gofrs/flock v0.13.2
	github.com/google/go-cmp v0.7.0
	go.uber.org/goleak v1.3.0
	golang.org/x/oauth2 v0.38.0
)

require golang.org/x/sys v0.49.0 // indirect
