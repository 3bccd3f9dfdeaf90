package main

// Request signatures: the HMAC-SHA1 of the canonical query, as the
// original checks it.

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/url"
	"strings"
)

// sign returns the lowercase hex HMAC-SHA1 of the canonical form of
// params under key. The canonical form is params without "sig", keys
// sorted, values in their given order, each pair escaped like
// url.QueryEscape and joined with "&": exactly url.Values.Encode, which
// is what the original picfit and its client libraries sign.
func sign(key string, params url.Values) string {
	return hex.EncodeToString(signatureMAC(key, params))
}

func signatureMAC(key string, params url.Values) []byte {
	mac := hmac.New(sha1.New, []byte(key))
	mac.Write([]byte(canonicalQuery(params)))
	return mac.Sum(nil)
}

// canonicalQuery is the signed form of params: every parameter but sig,
// encoded by url.Values.Encode.
func canonicalQuery(params url.Values) string {
	if _, ok := params["sig"]; !ok {
		return params.Encode()
	}
	c := make(url.Values, len(params))
	for k, v := range params {
		if k != "sig" {
			c[k] = v
		}
	}
	return c.Encode()
}

// verifySignature reports whether sig is the signature of params under one
// of keys, comparing in constant time. sig is lowercase hex, as sign
// writes it and the original compares it: uppercase is refused.
func verifySignature(keys []string, params url.Values, sig string) bool {
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha1.Size || strings.ToLower(sig) != sig {
		return false
	}
	ok := false
	for _, key := range keys {
		if hmac.Equal(got, signatureMAC(key, params)) {
			ok = true
		}
	}
	return ok
}
