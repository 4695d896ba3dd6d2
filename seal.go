package tokensource

import (
	"context"
	"encoding/json"
	"errors"
)

// A record sealed by an [Encrypter] is stored as a JSON object of two
// fields, so that a store that keeps text keeps it as it is:
//
//	record_version  1
//	sealed          base64 of the Encrypter's ciphertext
//
// The ciphertext holds the record as [EncodeRecord] writes it, together
// with the place of the store that wrote it ([Records].Where: the Redis
// key, the table and key, the file's path). A record copied to another
// place does not load there: it never gives one account another's token.
// A reader that knows nothing of sealing finds no token in it.
type sealedJSON struct {
	Version int    `json:"record_version"`
	Sealed  []byte `json:"sealed"`
}

// sealedContent is what a sealed record's ciphertext holds.
type sealedContent struct {
	Place  string          `json:"place"`
	Record json.RawMessage `json:"record"`
}

var (
	errWrongPlace = errors.New("the record was sealed for another place")
	errPlaintext  = errors.New("the record is not encrypted, and the store requires it")
)

// place returns what a sealed record is bound to.
func (r Records) place() string {
	if r.Place != "" {
		return r.Place
	}
	return r.Where
}

// seal returns data, an encoded record, sealed for r's place, or data as
// it is when r has no Encrypter.
func (r Records) seal(ctx context.Context, data []byte) ([]byte, error) {
	if r.Encrypter == nil {
		return data, nil
	}
	plain, err := json.Marshal(sealedContent{Place: r.place(), Record: data})
	if err != nil {
		return nil, err
	}
	sealed, err := r.Encrypter.Encrypt(ctx, plain)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(sealedJSON{Version: recordVersion, Sealed: sealed})
	return append(out, '\n'), err
}

// open returns the encoded record that data, as stored, holds: unsealed
// and checked against r's place, or data itself when it is not sealed
// (written before encryption was switched on), unless r requires
// encryption. An error means the record is corrupt, for this store.
func (r Records) open(ctx context.Context, data []byte) ([]byte, error) {
	var s sealedJSON
	if json.Unmarshal(data, &s) != nil || s.Sealed == nil {
		if r.RequireEncryption {
			return nil, errPlaintext
		}
		return data, nil // not sealed; decodeRecord says if it is corrupt
	}
	if r.Encrypter == nil {
		return nil, errors.New("the record is encrypted, and the store has no Encrypter")
	}
	plain, err := r.Encrypter.Decrypt(ctx, s.Sealed)
	if err != nil {
		return nil, err
	}
	var c sealedContent
	if err := json.Unmarshal(plain, &c); err != nil {
		return nil, errors.New("the decrypted record is not one this package sealed")
	}
	if c.Place != r.place() {
		return nil, errWrongPlace
	}
	return c.Record, nil
}
