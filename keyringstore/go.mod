module github.com/oauthkit/tokensource/keyringstore

go 1.26.0

require (
	github.com/godbus/dbus/v5 v5.2.2
	github.com/gofrs/flock v0.13.2
	github.com/oauthkit/tokensource v0.0.0-00010101000000-000000000000
	github.com/zalando/go-keyring v0.2.8
	go.uber.org/goleak v1.3.0
	golang.org/x/oauth2 v0.38.0
)

require (
	github.com/danieljoos/wincred v1.2.3 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/oauthkit/tokensource => ../
