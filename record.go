package tokensource

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"
)

// A Record is what a store holds for one grant: every store that is a
// [Backend] keeps the bytes [EncodeRecord] writes, so that a record moves
// between stores unchanged.
//
// A record is the token plus what processes sharing it need to coordinate:
// a generation that every write increases, the intent of a refresh in
// flight, a tombstone after a log-out, and the end of the cooldown after a
// failed login.
type Record struct {
	// Generation is increased by every write of the record. A record of
	// an earlier version of this package has generation 0.
	Generation int64

	// Token is the grant's newest token; nil in a tombstone, and in a
	// record that holds only a LoginRetryAt.
	Token *oauth2.Token

	// LoggedOut marks a tombstone: the grant was logged out, and no Source
	// writes it back. Token is nil.
	LoggedOut bool

	// Intent, when set, says that a refresh with Token's refresh token was
	// started and its outcome not yet saved.
	Intent *Intent

	// LoginRetryAt, when not zero, is when a login failed or was cancelled
	// plus the cooldown: no Source sharing the record calls its Login
	// before then (see [Options.LoginCooldown]). It sits beside whatever
	// else the record holds: a dead token, a tombstone, or nothing.
	LoginRetryAt time.Time

	// DPoPKey is the key the grant's tokens are bound to (see
	// [DPoPOptions]), when the Source generated it; nil otherwise.
	DPoPKey *ecdsa.PrivateKey

	raw []byte // the bytes the record was read from or written as, for compare-and-swap
}

// An Intent says that a Source is refreshing with a refresh token: it may
// have sent it to the token endpoint, so nobody else may send it again
// until the Source saves the outcome or has clearly died.
type Intent struct {
	// Refresh is the fingerprint of the refresh token sent (see
	// [Fingerprint]), never the token itself.
	Refresh string
	// Since is when the intent was recorded, on the writer's clock.
	Since time.Time
	// Owner identifies the Source that recorded it, at random.
	Owner string
}

// recordVersion is the version of the record format EncodeRecord writes.
const recordVersion = 1

// recordJSON is the JSON form of a Record: the token's fields at the top,
// as [MarshalToken] writes them, so that a reader of the plain token format
// (an earlier version of this package, json.Unmarshal into an oauth2.Token)
// still reads the token, and the record's own fields beside them.
type recordJSON struct {
	fileToken
	Version    int         `json:"record_version"`
	Generation int64       `json:"generation"`
	LoggedOut  bool        `json:"logged_out,omitempty"`
	Intent     *intentJSON `json:"intent,omitempty"`
	LoginRetry *time.Time  `json:"login_retry_at,omitempty"`
	DPoPKey    *privateJWK `json:"dpop_key,omitempty"`
}

type intentJSON struct {
	Refresh string    `json:"refresh"`
	Since   time.Time `json:"since"`
	Owner   string    `json:"owner"`
}

// EncodeRecord returns r in the format every store keeps: a JSON object with
// the fields [MarshalToken] writes, plus
//
//	record_version  1
//	generation      integer
//	logged_out      true in a tombstone, omitted otherwise
//	intent          {"refresh": fingerprint, "since": RFC 3339, "owner": string}, omitted when none
//	login_retry_at  RFC 3339, omitted when zero
//	dpop_key        the private JWK of DPoPKey, omitted when nil
//
// It fails for a record that holds neither a token with an access token or
// a refresh token, nor a tombstone, nor a LoginRetryAt.
func EncodeRecord(r *Record) ([]byte, error) {
	j := recordJSON{Version: recordVersion, Generation: r.Generation, LoggedOut: r.LoggedOut}
	if !r.LoginRetryAt.IsZero() {
		t := r.LoginRetryAt.UTC().Round(0)
		j.LoginRetry = &t
	}
	if r.DPoPKey != nil {
		j.DPoPKey = encodeDPoPKey(r.DPoPKey)
	}
	switch {
	case r.LoggedOut:
		if r.Token != nil {
			return nil, errors.New("a tombstone holds no token")
		}
	case r.Token == nil && j.LoginRetry != nil:
		// Nothing stored but the cooldown of a failed login.
	case r.Token == nil || (r.Token.AccessToken == "" && r.Token.RefreshToken == ""):
		return nil, errNoCredential
	default:
		j.fileToken = toFileToken(r.Token)
	}
	if in := r.Intent; in != nil {
		j.Intent = &intentJSON{Refresh: in.Refresh, Since: in.Since.UTC().Round(0), Owner: in.Owner}
	}
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// DecodeRecord parses what EncodeRecord wrote, and also the plain token of
// [MarshalToken] and json.Marshal(*oauth2.Token), as a record of generation
// 0: a store written by an earlier version of this package loads. Like
// [UnmarshalToken], it never quotes data in its error, which wraps
// [ErrCorrupt].
func DecodeRecord(data []byte) (*Record, error) {
	r, err := decodeRecord(data)
	if err != nil {
		return nil, &corruptError{what: "stored record", err: err}
	}
	return r, nil
}

// decodeRecord is DecodeRecord with an error that names no package.
func decodeRecord(data []byte) (*Record, error) {
	var j recordJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, describeDecodeError(err)
	}
	if j.Version > recordVersion {
		return nil, fmt.Errorf("record version %d is newer than this package reads (%d)", j.Version, recordVersion)
	}
	r := &Record{Generation: j.Generation, LoggedOut: j.LoggedOut, raw: data}
	if j.LoginRetry != nil {
		r.LoginRetryAt = *j.LoginRetry
	}
	if j.DPoPKey != nil {
		key, err := decodeDPoPKey(j.DPoPKey)
		if err != nil {
			return nil, err
		}
		r.DPoPKey = key
	}
	switch {
	case j.LoggedOut:
	case j.AccessToken == "" && j.RefreshToken == "" && j.LoginRetry != nil:
		// Only the cooldown of a failed login.
	case j.AccessToken == "" && j.RefreshToken == "":
		return nil, errNoCredential
	default:
		r.Token = fromFileToken(j.fileToken)
	}
	if in := j.Intent; in != nil {
		r.Intent = &Intent{Refresh: in.Refresh, Since: in.Since, Owner: in.Owner}
	}
	return r, nil
}

// Fingerprint returns a short, one-way digest of a refresh token, which a
// record's [Intent] carries instead of the token: the first 16 bytes of its
// SHA-256, in hex. It is "" for "".
func Fingerprint(refreshToken string) string {
	if refreshToken == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(refreshToken))
	return hex.EncodeToString(sum[:16])
}
