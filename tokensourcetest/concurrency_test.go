package tokensourcetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// client is a goroutine-safe way to talk to a Server: its methods return
// errors instead of failing the test.
type client struct {
	srv  *Server
	http *http.Client
}

func (c client) refresh(rt string) (reply, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	req, err := http.NewRequest(http.MethodPost, c.srv.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	var r reply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return reply{}, err
	}
	r.Status = resp.StatusCode
	return r, nil
}

func (c client) get(access string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, c.srv.ResourceURL(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// run is one client's life: log in, refresh and use the token rounds times,
// then replay the first refresh token, which must revoke the family.
func (c client) run(rounds int) error {
	tok := c.srv.Login()
	first, rt, access := tok.RefreshToken, tok.RefreshToken, tok.AccessToken
	for i := range rounds {
		r, err := c.refresh(rt)
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK || r.RefreshToken == rt {
			return fmt.Errorf("round %d: refresh got %d %s, want a rotated token", i, r.Status, r.Error)
		}
		rt, access = r.RefreshToken, r.AccessToken
		if status, err := c.get(access); err != nil || status != http.StatusOK {
			return fmt.Errorf("round %d: resource got %d, %v; want 200", i, status, err)
		}
	}
	r, err := c.refresh(first)
	if err != nil {
		return err
	}
	if r.Status != http.StatusBadRequest || r.Error != "invalid_grant" {
		return fmt.Errorf("replay got %d %s, want invalid_grant", r.Status, r.Error)
	}
	if status, err := c.get(access); err != nil || status != http.StatusUnauthorized {
		return fmt.Errorf("after the replay, resource got %d, %v; want 401", status, err)
	}
	return nil
}

func TestConcurrentClients(t *testing.T) {
	const clients, rounds = 200, 5
	srv := NewServer(nil)
	defer srv.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = clients
	defer tr.CloseIdleConnections()
	c := client{srv: srv, http: &http.Client{Transport: tr}}

	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() { errs <- c.run(rounds) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	want := Stats{
		TokenRequests:   clients * (rounds + 1),
		Refreshes:       clients * rounds,
		RefreshFailures: clients,
		ReuseDetected:   clients,
		Issued:          clients * (rounds + 1),
		Resource200:     clients * rounds,
		Resource401:     clients,
	}
	if diff := cmp.Diff(want, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

// TestConcurrentControl uses every control method while requests are served;
// it is for the race detector.
func TestConcurrentControl(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	c := client{srv: srv, http: http.DefaultClient}

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			tok := srv.Login()
			switch i % 6 {
			case 0:
				srv.ExpireAccessToken(tok.AccessToken)
			case 1:
				srv.RevokeAccessToken(tok.AccessToken)
			case 2:
				srv.RevokeFamily(tok.RefreshToken)
			case 3:
				srv.RequireScope("x")
			case 4:
				srv.SetLatency(0)
			case 5:
				srv.FailNext(1, FaultInvalidGrant)
			}
			c.refresh(tok.RefreshToken)
			c.get(tok.AccessToken)
			_ = srv.Stats()
		})
	}
	wg.Wait()
	if got := srv.Stats().TokenRequests; got != 20 {
		t.Errorf("TokenRequests = %d, want 20", got)
	}
}
