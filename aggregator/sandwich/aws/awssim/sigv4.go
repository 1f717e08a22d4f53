package awssim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sigV4 is a parsed Authorization header.
type sigV4 struct {
	akid, date, region, service string
	signedHeaders               []string
	signature                   string
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=AKID/20260102/
// us-east-1/ec2/aws4_request, SignedHeaders=a;b, Signature=hex". ok is false
// if the header is not SigV4 at all.
func parseAuthorization(auth string) (sig sigV4, ok bool, err *apiError) {
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return sig, false, nil
	}
	var cred, signed string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sig.signature = v
		}
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return sig, true, &apiError{status: 400, code: "IncompleteSignature", msg: "Authorization header requires 'Credential' parameter. Authorization=" + auth}
	}
	if signed == "" || sig.signature == "" {
		return sig, true, &apiError{status: 400, code: "IncompleteSignature", msg: "Authorization header requires 'SignedHeaders' and 'Signature' parameters. Authorization=" + auth}
	}
	sig.akid, sig.date, sig.region, sig.service = scope[0], scope[1], scope[2], scope[3]
	sig.signedHeaders = strings.Split(signed, ";")
	return sig, true, nil
}

// parsePresigned reads the X-Amz-* parameters of a presigned URL.
func parsePresigned(q url.Values) (sig sigV4, _ *apiError) {
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
		return sig, &apiError{status: 400, code: "IncompleteSignature", msg: "Unsupported AWS 'algorithm': '" + q.Get("X-Amz-Algorithm") + "'"}
	}
	scope := strings.Split(q.Get("X-Amz-Credential"), "/")
	sig.signature = q.Get("X-Amz-Signature")
	if len(scope) != 5 || scope[4] != "aws4_request" || sig.signature == "" || q.Get("X-Amz-SignedHeaders") == "" {
		return sig, &apiError{status: 400, code: "AuthorizationQueryParametersError",
			msg: "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."}
	}
	sig.akid, sig.date, sig.region, sig.service = scope[0], scope[1], scope[2], scope[3]
	sig.signedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	return sig, nil
}

// expectedSignature recomputes a request's SigV4 signature as AWS does:
// over exactly the headers the client listed in SignedHeaders (botocore
// leaves out content-length and user-agent, the Go SDK signs
// content-length), the URI-encoded path with dot segments removed, the
// query re-encoded and sorted, and the payload hash (X-Amz-Content-Sha256
// when sent, else the body's).
func expectedSignature(r *http.Request, body []byte, sig sigV4, secret, amzDate string) string {
	rawPath, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	if u, err := url.Parse(r.RequestURI); err == nil && u.IsAbs() {
		rawPath, rawQuery = u.EscapedPath(), u.RawQuery
	}
	var headers []string
	for _, h := range sig.signedHeaders {
		headers = append(headers, h+":"+headerValue(r, h))
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	canonical := strings.Join([]string{
		r.Method,
		uriEncode(removeDotSegments(rawPath), false),
		canonicalQuery(rawQuery),
		strings.Join(headers, "\n") + "\n",
		strings.Join(sig.signedHeaders, ";"),
		payload,
	}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	scope := sig.date + "/" + sig.region + "/" + sig.service + "/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	k := hmacSHA256([]byte("AWS4"+secret), sig.date)
	k = hmacSHA256(k, sig.region)
	k = hmacSHA256(k, sig.service)
	k = hmacSHA256(k, "aws4_request")
	return hex.EncodeToString(hmacSHA256(k, toSign))
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// headerValue is a signed header's canonical value: every value of the
// header, each trimmed with inner runs of spaces collapsed, joined by commas.
// Go's server moves Host out of the header map.
func headerValue(r *http.Request, name string) string {
	var vs []string
	switch name {
	case "host":
		vs = []string{r.Host}
	case "content-length":
		vs = r.Header.Values("Content-Length")
		if len(vs) == 0 && r.ContentLength >= 0 {
			vs = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vs = r.Header.Values(name)
	}
	for i, v := range vs {
		vs[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vs, ",")
}

// canonicalQuery decodes the query and re-encodes each name and value with
// SigV4's encoding, sorted by name then value.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var pairs []string
	for _, p := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		if k == "X-Amz-Signature" {
			continue // a presigned URL signs everything but its signature
		}
		pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "&")
}

// uriEncode percent-encodes every byte but the unreserved ones (and '/'
// unless encodeSlash). Applied to the path as it came on the wire, this
// encodes it a second time, as SigV4 does for every service but S3.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

// removeDotSegments normalises a path as SigV4 does for services other
// than S3: "." and ".." resolved, empty segments dropped.
func removeDotSegments(p string) string {
	if p == "" {
		return "/"
	}
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	res := strings.Join(out, "/")
	if strings.HasPrefix(p, "/") {
		res = "/" + res
	}
	if strings.HasSuffix(p, "/") && len(out) > 0 {
		res += "/"
	}
	return res
}

// requestTime is the signing time: X-Amz-Date, or Date when the client
// signed that instead.
func requestTime(r *http.Request) (time.Time, string, bool) {
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse("20060102T150405Z", v)
		return t, v, err == nil
	}
	t, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return time.Time{}, "", false
	}
	return t.UTC(), t.UTC().Format("20060102T150405Z"), true
}
