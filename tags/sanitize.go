package tags

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

const (
	// MaxTagLen is the longest tag name PAN-OS accepts, in bytes.
	MaxTagLen = 127
	// MaxTagsPerIP is the most tags PAN-OS registers on one IP.
	MaxTagsPerIP = 32

	// hashLen is the length of the hex hash that replaces the tail of a
	// truncated name: 16 hex digits, 64 bits of SHA-256.
	hashLen = 16
	// keepLen is how much of an over-long name survives truncation:
	// keepLen bytes + "-" + hashLen hex digits = MaxTagLen.
	keepLen = MaxTagLen - 1 - hashLen
	// replacement stands in for every character PAN-OS might refuse.
	replacement = '_'
)

// allowedByte reports whether c may appear in a tag name. The set is
// deliberately conservative: ASCII letters, digits, '.', '_' and '-'. PAN-OS
// documents more (spaces, some punctuation) for some object names, but its
// plugins and XML quoting differ on the rest, and nothing kubedag emits needs
// them.
func allowedByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// Valid reports whether tag is a name Sanitize could have produced: 1 to
// MaxTagLen bytes of allowed characters.
func Valid(tag string) bool {
	if len(tag) == 0 || len(tag) > MaxTagLen {
		return false
	}
	for i := 0; i < len(tag); i++ {
		if !allowedByte(tag[i]) {
			return false
		}
	}
	return true
}

// Sanitize turns s into a valid PAN-OS tag name, deterministically:
//
//   - every character outside [A-Za-z0-9._-] becomes '_' (one '_' per
//     UTF-8 character; every byte of invalid UTF-8 counts as one character);
//   - a result longer than MaxTagLen bytes is cut to its first 110 bytes
//     followed by "-" and 16 hex digits of the SHA-256 of the original s, so
//     two different long names differ even if they share the first 110
//     bytes, or sanitise to the same string.
//
// A result of exactly MaxTagLen bytes that already ends like a hashed name
// ("-" and 16 lowercase hex digits) is hashed too, so a name that was not
// truncated can never equal one that was.
//
// Sanitize("") is "", which is not Valid: callers never build empty tags.
func Sanitize(s string) string {
	out, _ := sanitize(s)
	return out
}

// Repair says what sanitize changed.
type repair uint8

const (
	repairedChars repair = 1 << iota
	repairedLength
)

// sanitize is Sanitize that also reports what it changed. It does not
// allocate when s is already valid.
func sanitize(s string) (string, repair) {
	clean := true
	for i := 0; i < len(s); i++ {
		if !allowedByte(s[i]) {
			clean = false
			break
		}
	}
	if clean && !needsHash(s) {
		return s, 0
	}
	b, rep := sanitizeInPlace([]byte(s))
	return string(b), rep
}

// sanitizeInPlace sanitises b in place (the result is never longer than b,
// nor than MaxTagLen) and returns the result, which shares b's storage.
func sanitizeInPlace(b []byte) ([]byte, repair) {
	var (
		sum     [sha256.Size]byte
		rep     repair
		w       int
		ordered = true
	)
	for i := 0; i < len(b); i++ {
		if !allowedByte(b[i]) {
			ordered = false
			break
		}
	}
	if ordered && !needsHash(b) {
		return b, 0
	}
	if len(b) >= MaxTagLen {
		// Only a name this long can need hashing; hash it before the
		// characters are replaced so that names differing only in
		// replaced characters still get different hashes.
		sum = sha256.Sum256(b)
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if !allowedByte(c) {
				c = replacement
				rep |= repairedChars
			}
			b[w] = c
			w++
			i++
			continue
		}
		_, size := utf8.DecodeRune(b[i:])
		b[w] = replacement
		w++
		i += size
		rep |= repairedChars
	}
	b = b[:w]
	if needsHash(b) {
		b = append(b[:keepLen], '-')
		b = hex.AppendEncode(b, sum[:hashLen/2])
		rep |= repairedLength
	}
	return b, rep
}

// needsHash reports whether a name of allowed characters must be replaced
// by its truncated, hashed form.
func needsHash[T string | []byte](s T) bool {
	if len(s) > MaxTagLen {
		return true
	}
	return len(s) == MaxTagLen && looksHashed(s)
}

// looksHashed reports whether a MaxTagLen-byte name ends in "-" and hashLen
// lowercase hex digits, the shape of a truncated name.
func looksHashed[T string | []byte](s T) bool {
	if s[keepLen] != '-' {
		return false
	}
	for i := keepLen + 1; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// shorten cuts s (already sanitised) to n bytes, replacing its tail by "-"
// and hashLen hex digits of the SHA-256 of raw (the unsanitised original).
// n must exceed hashLen+1 and len(s) must exceed n.
func shorten(s string, n int, raw string) string {
	sum := sha256.Sum256([]byte(raw))
	b := make([]byte, 0, n)
	b = append(b, s[:n-1-hashLen]...)
	b = append(b, '-')
	b = hex.AppendEncode(b, sum[:hashLen/2])
	return string(b)
}
