package panossim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
)

// APIKeyFor returns the user's current API key, minting one (as keygen would)
// when the user has none. A later keygen for the user replaces it.
func (s *Sim) APIKeyFor(user string) (string, error) {
	if _, ok := s.cfg.Users[user]; !ok {
		return "", fmt.Errorf("panossim: unknown user %q", user)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.userKey[user]; ok {
		return k, nil
	}
	return s.mintKeyLocked(user), nil
}

// mintKeyLocked issues a new key for user and ends the user's earlier key.
func (s *Sim) mintKeyLocked(user string) string {
	if old, ok := s.userKey[user]; ok {
		delete(s.keys, old)
	}
	s.keyGen[user]++
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(user))
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], s.keyGen[user])
	mac.Write(g[:])
	key := formatKey(mac.Sum(nil))
	s.keys[key] = user
	s.userKey[user] = key
	return key
}

// formatKey shapes a key as PAN-OS does: the base64 of ASCII text
// "-AQ==" + base64(hash) + base64(secret), which is why real keys start
// with "LUFRPT" (base64 of "-AQ=") and end in "=". Base64 of text drawn only
// from the base64 alphabet, '-' and '=' never yields '+' or '/' (those need
// input bytes >= 0x80 or one of '>', '?', '~', DEL), so keys are letters,
// digits and '=' and survive an unencoded key=KEY in a query or form body.
func formatKey(mac []byte) string {
	inner := "-AQ==" + base64.StdEncoding.EncodeToString(mac[:20]) + base64.StdEncoding.EncodeToString(mac)
	return base64.StdEncoding.EncodeToString([]byte(inner))
}

func (s *Sim) keygen(w http.ResponseWriter, r *http.Request, rec *Request) result {
	user, pass := r.Form.Get("user"), r.Form.Get("password")
	want, ok := s.cfg.Users[user]
	if !ok || user == "" || subtle.ConstantTimeCompare([]byte(want), []byte(pass)) != 1 {
		return writeInvalidCredential(w)
	}
	rec.User = user
	s.mu.Lock()
	key := s.mintKeyLocked(user)
	s.mu.Unlock()
	return writeXML(w, http.StatusOK, "success", 0,
		`<response status = 'success'><result><key>`+escape(key)+`</key></result></response>`)
}

// authenticate finds the request's key (X-PAN-KEY header, key= parameter or
// HTTP Basic user/password) and returns the user it belongs to.
func (s *Sim) authenticate(r *http.Request) (string, bool) {
	key := strings.TrimSpace(r.Header.Get("X-PAN-KEY"))
	if key == "" {
		key = r.Form.Get("key")
	}
	if key != "" {
		s.mu.Lock()
		user, ok := s.keys[key]
		s.mu.Unlock()
		return user, ok
	}
	if user, pass, ok := r.BasicAuth(); ok {
		want, known := s.cfg.Users[user]
		if known && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1 {
			return user, true
		}
	}
	return "", false
}
