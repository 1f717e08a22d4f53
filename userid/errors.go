package userid

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// ErrMalformed marks a response the client could not make sense of: not
// XML, not a <response>, or missing what the request must return. Test with
// errors.Is.
var ErrMalformed = errors.New("malformed PAN-OS response")

// APIError is a failure reported by the device: a <response> whose status
// is error (or failed), whose code is not a success code, or an HTTP error
// status. Its text never holds the API key or password.
type APIError struct {
	// Op names the request, e.g. "user-id", "config set", "keygen".
	Op string
	// Code is the PAN-OS code attribute; 0 when the response had none.
	Code int
	// Message is the device's message (<msg>, <line>s joined by "; ").
	Message string
	// HTTPStatus is the HTTP status of the response.
	HTTPStatus int
	// Status is the response's status attribute ("error", "failed", ...).
	Status string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("pan-os ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Status != "" {
		b.WriteString("status ")
		b.WriteString(e.Status)
	} else {
		b.WriteString("failed")
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
		if m := codeMeaning(e.Code); m != "" {
			fmt.Fprintf(&b, " (%s)", m)
		}
	}
	if e.HTTPStatus != 0 && e.HTTPStatus != 200 {
		fmt.Fprintf(&b, ", HTTP %d", e.HTTPStatus)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func codeMeaning(code int) string {
	switch code {
	case 400:
		return "bad request"
	case 403:
		return "forbidden"
	case 1:
		return "unknown command"
	case 2, 3, 4, 5, 11, 21:
		return "internal error"
	case 6:
		return "bad xpath"
	case 7:
		return "object not present"
	case 8:
		return "object not unique"
	case 10:
		return "reference count not zero"
	case 12:
		return "invalid object"
	case 13:
		return "object not found"
	case 14:
		return "operation not possible"
	case 15:
		return "operation denied"
	case 16:
		return "unauthorized"
	case 17:
		return "invalid command"
	case 18:
		return "malformed command"
	case 22:
		return "session timed out"
	}
	return ""
}

// TransportError is a failure to get any response from the device:
// connection refused, TLS failure, timeout, connection reset. Its text
// never holds the API key or password.
type TransportError struct {
	Op string
	// NotSent is true when the request certainly never reached the device
	// (the connection could not be made), so even a non-idempotent request
	// may be repeated.
	NotSent bool
	msg     string
	err     error
}

func (e *TransportError) Error() string { return "pan-os " + e.Op + ": transport: " + e.msg }

// Unwrap returns the underlying network error (context.DeadlineExceeded and
// friends stay visible to errors.Is).
func (e *TransportError) Unwrap() error { return e.err }

// JobError reports a job that finished without success; Job holds the
// details and per-device results.
type JobError struct{ Job *Job }

func (e *JobError) Error() string {
	j := e.Job
	var b strings.Builder
	fmt.Fprintf(&b, "pan-os job %d (%s) %s", j.ID, j.Type, j.Result)
	if len(j.Details) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(j.Details, "; "))
	}
	for _, d := range j.Devices {
		if !strings.EqualFold(d.Result, "OK") {
			fmt.Fprintf(&b, "; device %s: %s/%s", d.Serial, d.Status, d.Result)
			if len(d.Details) > 0 {
				b.WriteString(": ")
				b.WriteString(strings.Join(d.Details, "; "))
			}
		}
	}
	return b.String()
}

// IsAuth reports whether err is an authentication or authorisation
// failure: a bad or expired key, bad credentials, missing rights.
func IsAuth(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case 403, 16, 22:
		return true
	}
	return ae.Code == 0 && (ae.HTTPStatus == 401 || ae.HTTPStatus == 403)
}

// IsBadRequest reports whether the device rejected the request itself
// (malformed command, bad XPath, invalid object); repeating it cannot help.
func IsBadRequest(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case 400, 1, 6, 12, 17, 18:
		return true
	}
	return ae.Code == 0 && (ae.HTTPStatus == 400 || ae.HTTPStatus == 413)
}

// IsNotFound reports whether the device said the object is not there
// (codes 7 and 13, or a code-less "No such node" answer to show/get).
func IsNotFound(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Code == 7 || ae.Code == 13 ||
		(ae.Code == 0 && strings.Contains(strings.ToLower(ae.Message), "no such node"))
}

// IsRetryable reports whether err is transient: the device was busy or
// unavailable, or the network failed. A retryable error on a request that
// is not idempotent may still mean the request took effect.
func IsRetryable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up; repeating is not wanted
	}
	var te *TransportError
	if errors.As(err, &te) {
		return !isTLSConfigError(te.err)
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case 2, 3, 4, 5, 11, 21:
		return true
	}
	switch ae.HTTPStatus {
	case 429, 502, 503, 504:
		return true
	}
	m := strings.ToLower(ae.Message)
	return strings.Contains(m, "busy") || strings.Contains(m, "try again")
}

// isTLSConfigError reports errors no retry can fix: the certificate does
// not verify.
func isTLSConfigError(err error) bool {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &cv)
}

// notSent reports whether a transport error happened before any byte of
// the request could reach the device.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
