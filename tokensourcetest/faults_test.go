package tokensourcetest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// bound is how long a test waits for something that should take no time
// before it gives up; hitting it is a failure, never a pass.
const bound = 10 * time.Second

// waitFor polls cond until it is true, failing the test after bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// rawRefresh sends a refresh request for rt and returns the raw response,
// with its body read, or the transport error.
func rawRefresh(ctx context.Context, srv *Server, rt string) (*http.Response, []byte, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestFaultAnswers(t *testing.T) {
	tests := []struct {
		fault       Fault
		status      int
		code        string // JSON error code; "" for none
		retryAfter  string
		basic       bool   // a Basic WWW-Authenticate challenge
		invalidJSON bool   // the body is not JSON
		oauth2Err   string // what x/oauth2's error says when it has no error code
	}{
		{fault: FaultServerError, status: 500, code: "server_error"},
		{fault: FaultUnavailable, status: 503, code: "temporarily_unavailable", retryAfter: "2"},
		{fault: FaultTooManyRequests, status: 429, code: "temporarily_unavailable", retryAfter: "2"},
		{fault: FaultMalformedJSON, status: 200, invalidJSON: true, oauth2Err: "cannot parse json"},
		{fault: FaultMissingAccessToken, status: 200, oauth2Err: "missing access_token"},
		{fault: FaultInvalidGrant, status: 400, code: "invalid_grant"},
		{fault: FaultInvalidClient, status: 401, code: "invalid_client", basic: true},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			srv := NewServer(nil)
			defer srv.Close()
			tok := srv.Login()

			srv.FailNext(1, tt.fault)
			resp, body, err := rawRefresh(context.Background(), srv, tok.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if got := resp.Header.Get("WWW-Authenticate"); strings.HasPrefix(got, "Basic ") != tt.basic {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if json.Valid(body) == tt.invalidJSON {
				t.Errorf("body %q: valid JSON is %v, want %v", body, json.Valid(body), !tt.invalidJSON)
			}
			var r reply
			json.Unmarshal(body, &r)
			if r.Error != tt.code || r.AccessToken != "" {
				t.Errorf("body %s: want error %q and no access token", body, tt.code)
			}

			// x/oauth2 sees the failure too.
			srv.FailNext(1, tt.fault)
			_, err = srv.Config().TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			var re *oauth2.RetrieveError
			switch {
			case tt.code != "":
				if !errors.As(err, &re) || re.Response.StatusCode != tt.status || re.ErrorCode != tt.code {
					t.Errorf("x/oauth2 error %v, want a RetrieveError %d %s", err, tt.status, tt.code)
				}
			case err == nil || !strings.Contains(err.Error(), tt.oauth2Err):
				t.Errorf("x/oauth2 error %v, want one mentioning %q", err, tt.oauth2Err)
			}

			// Nothing was processed: the refresh token is still unused.
			mustRefresh(t, srv, tok.RefreshToken)
			want := Stats{TokenRequests: 3, Refreshes: 1, RefreshFailures: 2, Issued: 2}
			if diff := cmp.Diff(want, srv.Stats()); diff != "" {
				t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFaultHang(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	tok := srv.Login()

	srv.FailNext(1, FaultHang)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := srv.Config().TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > bound {
		t.Errorf("the hung request took %v to give up", elapsed)
	}
	// The server stops holding the request once the client is gone.
	waitFor(t, "the server to let go of the request", func() bool { return srv.inFlight.Load() == 0 })
	mustRefresh(t, srv, tok.RefreshToken)
	want := Stats{TokenRequests: 2, Refreshes: 1, RefreshFailures: 1, Issued: 2}
	if diff := cmp.Diff(want, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestCloseEndsHungRequests(t *testing.T) {
	for _, f := range []string{"hang", "latency"} {
		t.Run(f, func(t *testing.T) {
			srv := NewServer(nil)
			tok := srv.Login()
			if f == "hang" {
				srv.FailNext(1, FaultHang)
			} else {
				srv.SetLatency(time.Hour)
			}
			errc := make(chan error, 1)
			go func() {
				_, _, err := rawRefresh(context.Background(), srv, tok.RefreshToken)
				errc <- err
			}()
			waitFor(t, "the request to arrive", func() bool { return srv.Stats().TokenRequests == 1 })

			closed := make(chan struct{})
			go func() {
				srv.Close()
				close(closed)
			}()
			select {
			case err := <-errc:
				if err == nil {
					t.Errorf("the held request got a response; want its connection closed")
				}
			case <-time.After(bound):
				t.Fatal("Close did not end the held request")
			}
			select {
			case <-closed:
			case <-time.After(bound):
				t.Fatal("Close did not return")
			}
		})
	}
}

func TestFaultResetConnection(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	tok := srv.Login()

	srv.FailNext(1, FaultResetConnection)
	if _, _, err := rawRefresh(context.Background(), srv, tok.RefreshToken); err == nil {
		t.Fatal("request succeeded; want a transport error")
	}
	// Nothing was processed.
	mustRefresh(t, srv, tok.RefreshToken)
	want := Stats{TokenRequests: 2, Refreshes: 1, RefreshFailures: 1, Issued: 2}
	if diff := cmp.Diff(want, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestFaultLoseResponse(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	tok := srv.Login()
	conf := srv.Config()

	srv.FailNext(1, FaultLoseResponse)
	_, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err == nil {
		t.Fatal("refresh succeeded; want the response lost")
	}
	// The client retries with the refresh token it still holds: the server
	// already rotated it, so this is reuse, and the family is gone.
	_, err = conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("retry: err = %v, want invalid_grant", err)
	}
	wantInvalidToken(t, get(t, srv, tok.AccessToken), "the token family was revoked")
	want := Stats{TokenRequests: 2, Refreshes: 1, RefreshFailures: 1, ReuseDetected: 1, Issued: 2, Resource401: 1}
	if diff := cmp.Diff(want, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestFaultLoseResponseWithinGrace(t *testing.T) {
	clock := NewClock(testStart)
	srv := NewServer(&Options{Now: clock.Now, ReuseGrace: 10 * time.Second})
	defer srv.Close()
	tok := srv.Login()

	srv.FailNext(1, FaultLoseResponse)
	if _, _, err := rawRefresh(context.Background(), srv, tok.RefreshToken); err == nil {
		t.Fatal("refresh succeeded; want the response lost")
	}
	clock.Advance(5 * time.Second)
	mustRefresh(t, srv, tok.RefreshToken) // a retry within the grace period
	if got := srv.Stats().ReuseDetected; got != 0 {
		t.Errorf("ReuseDetected = %d, want 0", got)
	}
}

func TestFailNextQueues(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	srv.FailNext(2, FaultServerError)
	srv.FailNext(1, FaultInvalidClient)
	srv.FailNext(0, FaultHang)
	srv.FailNext(-1, FaultHang)
	cc := url.Values{"grant_type": {"client_credentials"}}
	wantError(t, post(t, srv, cc), 500, "server_error")
	wantError(t, post(t, srv, cc), 500, "server_error")
	wantError(t, post(t, srv, cc), 401, "invalid_client")
	if r := post(t, srv, cc); r.Status != http.StatusOK {
		t.Errorf("after the queue: %d %s, want 200", r.Status, r.Error)
	}
	// Faults are not refresh failures for other grants.
	want := Stats{TokenRequests: 4, Issued: 1}
	if diff := cmp.Diff(want, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestFailNextPanicsOnUndefinedFault(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	for _, f := range []Fault{0, FaultInvalidClient + 1, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("FailNext(1, %v) did not panic", f)
				}
			}()
			srv.FailNext(1, f)
		}()
	}
}

func TestFaultString(t *testing.T) {
	if got := FaultHang.String(); got != "FaultHang" {
		t.Errorf("FaultHang.String() = %q", got)
	}
	if got := FaultInvalidClient.String(); got != "FaultInvalidClient" {
		t.Errorf("FaultInvalidClient.String() = %q", got)
	}
	if got := Fault(99).String(); got != "Fault(99)" {
		t.Errorf("Fault(99).String() = %q", got)
	}
}

func TestLatency(t *testing.T) {
	const d = 50 * time.Millisecond
	srv := NewServer(&Options{Latency: d})
	defer srv.Close()
	tok := srv.Login()

	start := time.Now()
	r := mustRefresh(t, srv, tok.RefreshToken)
	if elapsed := time.Since(start); elapsed < d {
		t.Errorf("refresh took %v, want at least the latency %v", elapsed, d)
	}
	// SetLatency replaces the option; 0 turns it off.
	srv.SetLatency(0)
	mustRefresh(t, srv, r.RefreshToken)
}

func TestLatencyRespectsContext(t *testing.T) {
	srv := NewServer(&Options{Latency: time.Hour})
	defer srv.Close()
	tok := srv.Login()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := srv.Config().TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	// The server stops waiting once the client is gone, and does not
	// process the request.
	waitFor(t, "the server to let go of the request", func() bool { return srv.inFlight.Load() == 0 })
	srv.SetLatency(0)
	mustRefresh(t, srv, tok.RefreshToken)
	if got := srv.Stats().ReuseDetected; got != 0 {
		t.Errorf("ReuseDetected = %d, want 0", got)
	}
}
