package tokensource

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

var b64enc = base64.RawURLEncoding

func b64(b []byte) string { return b64enc.EncodeToString(b) }

// proof returns a DPoP proof (RFC 9449 §4.2) for a request of method to
// rawURL, with nonce and, for a resource request, the access token's hash
// (ath) when token is not "". Each proof has a jti of its own.
//
// The proof is built by appending to one buffer: the signature's own
// allocations are most of a proof's cost, and this adds few to them.
func (k *dpopKey) proof(method, rawURL, nonce, token string, now time.Time) (string, error) {
	htu := rawURL
	if strings.ContainsAny(rawURL, "?#") {
		var err error
		if htu, err = proofURL(rawURL); err != nil {
			return "", err
		}
	}
	var scratch [512]byte
	claims := proofClaims(scratch[:0], method, htu, nonce, token, now)
	buf := make([]byte, 0, len(k.header)+1+b64enc.EncodedLen(len(claims))+1+b64enc.EncodedLen(64))
	buf = append(buf, k.header...)
	buf = append(buf, '.')
	buf = b64enc.AppendEncode(buf, claims)
	digest := sha256.Sum256(buf)
	var random io.Reader = rand.Reader
	if k.private != nil {
		random = nil // RFC 6979: deterministic, as secure, and fewer allocations
	}
	der, err := k.signer.Sign(random, digest[:], crypto.SHA256)
	if err != nil {
		return "", err
	}
	var raw [64]byte
	if !rawSignature(der, raw[:]) {
		return "", errors.New("the DPoP key's signature is not ECDSA P-256")
	}
	buf = append(buf, '.')
	buf = b64enc.AppendEncode(buf, raw[:])
	return string(buf), nil
}

// proofClaims appends a proof's JSON claims to dst: a new jti, htm, htu,
// iat, and nonce and ath when there are.
func proofClaims(dst []byte, method, htu, nonce, token string, now time.Time) []byte {
	var jti [16]byte
	rand.Read(jti[:])
	dst = append(dst, `{"jti":"`...)
	dst = b64enc.AppendEncode(dst, jti[:])
	dst = append(dst, `","htm":`...)
	dst = appendJSONString(dst, method)
	dst = append(dst, `,"htu":`...)
	dst = appendJSONString(dst, htu)
	dst = append(dst, `,"iat":`...)
	dst = strconv.AppendInt(dst, now.Unix(), 10)
	if nonce != "" {
		dst = append(dst, `,"nonce":`...)
		dst = appendJSONString(dst, nonce)
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		dst = append(dst, `,"ath":"`...)
		dst = b64enc.AppendEncode(dst, sum[:])
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// appendJSONString appends s to dst as a JSON string, as encoding/json
// writes it. Methods, URLs and nonces are printable ASCII that needs no
// escape; anything else goes through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || strings.IndexByte(`"\<>&`, c) >= 0 {
			q, _ := json.Marshal(s) // a string always marshals
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// rawSignature writes the ASN.1 DER signature der, SEQUENCE { r INTEGER,
// s INTEGER }, as JWS wants it (RFC 7518 §3.4): r and s, 32 bytes each, in
// out. It reports whether der was such a signature.
func rawSignature(der, out []byte) bool {
	if len(der) < 2 || der[0] != 0x30 || int(der[1]) != len(der)-2 || der[1] >= 0x80 {
		return false
	}
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || int(rest[1]) > len(rest)-2 {
			return false
		}
		n := rest[2 : 2+int(rest[1])]
		rest = rest[2+int(rest[1]):]
		for len(n) > 0 && n[0] == 0 {
			n = n[1:] // a leading zero keeps a DER INTEGER positive
		}
		if len(n) > 32 {
			return false
		}
		copy(out[32*i+32-len(n):32*i+32], n)
	}
	return len(rest) == 0
}

// proofURL is the htu of a request to rawURL: the URL without its query
// and fragment (RFC 9449 §4.2).
func proofURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return u.String(), nil
}
