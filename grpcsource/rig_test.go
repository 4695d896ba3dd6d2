package grpcsource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/grpcsource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// An api is a gRPC server on loopback whose interceptors check the bearer
// token of every call against a tokensourcetest server's protected
// resource: a token the resource rejects (401) is Unauthenticated, one
// that lacks its scope (403) PermissionDenied. It serves the health
// service and a testService.
type api struct {
	addr  string
	roots *x509.CertPool // trusts the server's certificate; nil without TLS
	auth  *tokensourcetest.Server
	srv   *grpc.Server
	http  *http.Client // to the resource, its own so that it can be closed

	rejectAll atomic.Bool  // respond Unauthenticated whatever the token
	rejected  atomic.Int64 // calls that got Unauthenticated for their token

	mu   sync.Mutex
	seen [][]string // the authorization values of each call, in order of arrival
}

// newAPI starts an api that checks tokens with auth, over TLS with a
// self-signed certificate for 127.0.0.1, or without transport security if
// tlsOff. Stop it with stop.
func newAPI(auth *tokensourcetest.Server, tlsOff bool) (*api, error) {
	a := &api{auth: auth, http: &http.Client{Transport: &http.Transport{}}}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if err := a.check(ctx); err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			if err := a.check(ss.Context()); err != nil {
				return err
			}
			return handler(srv, ss)
		}),
	}
	if !tlsOff {
		cert, roots, err := selfSigned()
		if err != nil {
			return nil, err
		}
		a.roots = roots
		opts = append(opts, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a.addr = lis.Addr().String()
	a.srv = grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(a.srv, health.NewServer())
	testpb.RegisterTestServiceServer(a.srv, testService{})
	go a.srv.Serve(lis)
	return a, nil
}

// stop stops the server and closes its connections to the resource.
func (a *api) stop() {
	a.srv.Stop()
	a.http.CloseIdleConnections()
}

// startAPI is newAPI for a test, stopped when the test ends.
func startAPI(t testing.TB, auth *tokensourcetest.Server, tlsOff bool) *api {
	a, err := newAPI(auth, tlsOff)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.stop)
	return a
}

// check authenticates a call, as a resource server does with an
// introspection endpoint: it asks the tokensourcetest resource.
func (a *api) check(ctx context.Context) error {
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	a.mu.Lock()
	a.seen = append(a.seen, vals)
	a.mu.Unlock()
	if len(vals) != 1 {
		return status.Errorf(codes.Unauthenticated, "%d authorization values", len(vals))
	}
	if a.rejectAll.Load() {
		a.rejected.Add(1)
		return status.Error(codes.Unauthenticated, "every token is rejected")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.auth.ResourceURL(), nil)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	req.Header.Set("Authorization", vals[0])
	resp, err := a.http.Do(req)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized:
		a.rejected.Add(1)
		return status.Error(codes.Unauthenticated, "invalid token")
	case http.StatusForbidden:
		return status.Error(codes.PermissionDenied, "insufficient scope")
	}
	return status.Errorf(codes.Internal, "token check: %s", resp.Status)
}

// calls returns the authorization values of each call the server received.
func (a *api) calls() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// dial connects to a with the interceptors of src, or with opts instead
// when there are any. The connection is closed when the test ends.
func (a *api) dial(t testing.TB, src *tokensource.Source, opts ...grpc.DialOption) *grpc.ClientConn {
	if len(opts) == 0 {
		opts = []grpc.DialOption{
			grpc.WithUnaryInterceptor(grpcsource.UnaryClientInterceptor(src)),
			grpc.WithStreamInterceptor(grpcsource.StreamClientInterceptor(src)),
		}
	}
	tc := insecure.NewCredentials()
	if a.roots != nil {
		tc = credentials.NewClientTLSFromCert(a.roots, "")
	}
	conn, err := grpc.NewClient("passthrough:///"+a.addr, append(opts, grpc.WithTransportCredentials(tc))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// selfSigned returns a certificate for 127.0.0.1 made on the spot, and a
// pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "grpcsource test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots, nil
}

// testService serves the grpc_testing calls used here. A request's
// ResponseStatus, if any, is the status the call ends with, after the
// responses its ResponseParameters ask for.
type testService struct {
	testpb.UnimplementedTestServiceServer
}

func (testService) UnaryCall(_ context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if err := echoStatus(req.GetResponseStatus()); err != nil {
		return nil, err
	}
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

// StreamingOutputCall sends the header x-cursor: c1 first.
func (testService) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	if err := stream.SendHeader(metadata.Pairs("x-cursor", "c1")); err != nil {
		return err
	}
	for _, p := range req.GetResponseParameters() {
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
			return err
		}
	}
	return echoStatus(req.GetResponseStatus())
}

// StreamingInputCall responds with the total size of the payloads received.
func (testService) StreamingInputCall(stream grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	var n int32
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: n})
		}
		if err != nil {
			return err
		}
		n += int32(len(req.GetPayload().GetBody()))
	}
}

// FullDuplexCall responds to each request as StreamingOutputCall does, until
// the client closes its side.
func (testService) FullDuplexCall(stream grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		for _, p := range req.GetResponseParameters() {
			if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
				return err
			}
		}
	}
}

func echoStatus(s *testpb.EchoStatus) error {
	if s == nil {
		return nil
	}
	return status.Error(codes.Code(s.GetCode()), s.GetMessage())
}

// loggedIn returns a Source for auth's client, with opts and a logged-in
// token in a MemoryStore.
func loggedIn(auth *tokensourcetest.Server, opts *tokensource.Options) (*tokensource.Source, error) {
	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, auth.Login()); err != nil {
		return nil, err
	}
	return tokensource.FromConfig(ctx, auth.Config(), store, opts), nil
}

// A rig is a tokensourcetest server, a Source for it, an api over TLS, and
// a connection to it with the Source's interceptors.
type rig struct {
	auth   *tokensourcetest.Server
	src    *tokensource.Source
	api    *api
	client testpb.TestServiceClient
}

func newRig(t testing.TB) *rig { return newRigWith(t, nil) }

// newRigWith is newRig with a Source made with opts.
func newRigWith(t testing.TB, opts *tokensource.Options) *rig {
	auth := tokensourcetest.NewServer(nil)
	t.Cleanup(auth.Close)
	src, err := loggedIn(auth, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{auth: auth, src: src, api: startAPI(t, auth, false)}
	r.client = testpb.NewTestServiceClient(r.api.dial(t, r.src))
	return r
}

// revoke revokes the Source's current access token at the server. It may
// be called from any goroutine.
func (r *rig) revoke(t testing.TB) {
	tok, err := r.src.Token()
	if err != nil {
		t.Error(err)
		return
	}
	r.auth.RevokeAccessToken(tok.AccessToken)
}

// wantCalls fails the test unless the server got n calls.
func (r *rig) wantCalls(t testing.TB, n int) {
	t.Helper()
	if got := len(r.api.calls()); got != n {
		t.Errorf("server got %d calls; want %d", got, n)
	}
}

// wantStats fails the test unless the Source refreshed and invalidated so
// many times.
func (r *rig) wantStats(t testing.TB, refreshes, invalidations int64) {
	t.Helper()
	if st := r.src.Stats(); st.Refreshes != refreshes || st.Invalidations != invalidations {
		t.Errorf("Refreshes, Invalidations = %d, %d; want %d, %d", st.Refreshes, st.Invalidations, refreshes, invalidations)
	}
}

// outputStream makes a StreamingOutputCall with req and receives until the
// stream ends. It returns how many messages came and the error the stream
// ended with (nil for io.EOF).
func outputStream(ctx context.Context, c testpb.TestServiceClient, req *testpb.StreamingOutputCallRequest) (int, error) {
	s, err := c.StreamingOutputCall(ctx, req)
	if err != nil {
		return 0, err
	}
	for n := 0; ; n++ {
		if _, err := s.Recv(); err != nil {
			if err == io.EOF {
				err = nil
			}
			return n, err
		}
	}
}
