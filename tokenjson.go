package tokensource

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"
)

// fileToken is the JSON form of a stored token, in a FileStore file and in
// the stores of other modules. Its first five
// fields carry the names and types oauth2.Token has, so a file is read and
// written the way json.Marshal(*oauth2.Token) writes it; the last two keep
// the extras that oauth2.Token holds only in its unexported raw field.
type fileToken struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry"`
	ExpiresIn    int64     `json:"expires_in,omitempty"`
	IDToken      string    `json:"id_token,omitempty"`
	Scope        string    `json:"scope,omitempty"`
}

// errNoCredential marks a token that has neither an access token nor a
// refresh token: nothing could ever be done with it.
var errNoCredential = errors.New("the token has neither an access_token nor a refresh_token")

// ErrCorrupt is wrapped by the error of a [Store] whose stored token cannot
// be read back: it is not the JSON [MarshalToken] writes, or it holds
// neither an access token nor a refresh token. The stored data is left as
// it is; a program may offer a new login, whose Save replaces it.
var ErrCorrupt = errors.New("stored token is corrupt")

// MarshalToken returns tok as a [FileStore] writes it, indented, with a
// trailing newline: the JSON object json.Marshal(*oauth2.Token) writes,
//
//	access_token   string
//	token_type     string, omitted when empty
//	refresh_token  string, omitted when empty
//	expiry         RFC 3339 time; "0001-01-01T00:00:00Z" means no expiry
//	expires_in     integer seconds, omitted when zero
//
// plus two fields that oauth2.Token keeps only as extras, written when they
// are strings, and restored by [UnmarshalToken] so that tok.Extra finds
// them:
//
//	id_token       string, omitted when empty
//	scope          string, omitted when empty
//
// Stores of other modules use it so that every store holds the same format.
// It fails for a nil token and for one with neither an access token nor a
// refresh token. Its error names this package; [errors.Unwrap] gives the
// cause alone, for a Store whose own error names it.
func MarshalToken(tok *oauth2.Token) ([]byte, error) {
	data, err := marshalToken(tok)
	if err != nil {
		return nil, fmt.Errorf("tokensource: %w", err)
	}
	return data, nil
}

// marshalToken is MarshalToken, with an error that names no package.
func marshalToken(tok *oauth2.Token) ([]byte, error) {
	if tok == nil || (tok.AccessToken == "" && tok.RefreshToken == "") {
		return nil, errNoCredential
	}
	data, err := json.MarshalIndent(toFileToken(tok), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// extraString returns tok's extra named key when it is a string, and ""
// otherwise: a non-string id_token or scope has no place in the file format.
func extraString(tok *oauth2.Token, key string) string {
	s, _ := tok.Extra(key).(string)
	return s
}

// UnmarshalToken parses what MarshalToken or json.Marshal(*oauth2.Token)
// wrote, ignoring unknown fields. Data that is not such an object, or that
// has neither an access_token nor a refresh_token, is corrupt: the error
// wraps [ErrCorrupt], and never quotes data, so it may be logged even when
// data holds a live token. Like MarshalToken's, it names
// this package, and [errors.Unwrap] gives the cause alone.
func UnmarshalToken(data []byte) (*oauth2.Token, error) {
	tok, err := decodeToken(data)
	if err != nil {
		return nil, &corruptError{what: "stored token", err: err}
	}
	return tok, nil
}

// corruptError says that what cannot be read back, and why.
type corruptError struct {
	what string // the stored token, or where it is: "token file \"/x\""
	err  error
}

func (e *corruptError) Error() string {
	return "tokensource: " + e.what + " is corrupt: " + e.err.Error()
}
func (e *corruptError) Unwrap() error        { return e.err }
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

// decodeToken parses stored JSON; see UnmarshalToken.
func decodeToken(data []byte) (*oauth2.Token, error) {
	var ft fileToken
	if err := json.Unmarshal(data, &ft); err != nil {
		return nil, describeDecodeError(err)
	}
	if ft.AccessToken == "" && ft.RefreshToken == "" {
		return nil, errNoCredential
	}
	return fromFileToken(ft), nil
}

// toFileToken returns the stored form of tok.
func toFileToken(tok *oauth2.Token) fileToken {
	return fileToken{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.TokenType,
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
		ExpiresIn:    tok.ExpiresIn,
		IDToken:      extraString(tok, "id_token"),
		Scope:        extraString(tok, "scope"),
	}
}

// fromFileToken returns the token ft stores.
func fromFileToken(ft fileToken) *oauth2.Token {
	tok := &oauth2.Token{
		AccessToken:  ft.AccessToken,
		TokenType:    ft.TokenType,
		RefreshToken: ft.RefreshToken,
		Expiry:       ft.Expiry,
		ExpiresIn:    ft.ExpiresIn,
	}
	return withExtras(tok, ft)
}

// withExtras returns tok carrying ft's id_token and scope as extras, so that
// tok.Extra finds them as it would on a token fresh from the server. A token
// without them is returned as is, with no extras at all.
func withExtras(tok *oauth2.Token, ft fileToken) *oauth2.Token {
	extra := map[string]any{}
	if ft.IDToken != "" {
		extra["id_token"] = ft.IDToken
	}
	if ft.Scope != "" {
		extra["scope"] = ft.Scope
	}
	if len(extra) == 0 {
		return tok
	}
	return tok.WithExtra(extra)
}

// describeDecodeError returns an error for a failed json.Unmarshal that
// holds none of the input. Syntax and type errors name at most a character,
// a JSON kind and a field, so they are kept. Any other error comes from
// time.Time's UnmarshalJSON on expiry, and that one quotes the value it
// could not parse, which might be a misplaced token: it is replaced.
func describeDecodeError(err error) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &syntaxErr) || errors.As(err, &typeErr) {
		return err
	}
	return errors.New("expiry is not an RFC 3339 time string")
}
