package userid

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Client talks to one PAN-OS device over the XML API. It is safe for
// concurrent use. It starts no goroutines of its own; Close releases idle
// connections.
type Client struct {
	cfg      Config
	endpoint string
	log      *slog.Logger

	keygenMu sync.Mutex // serialises keygen: a new key may end older sessions
	mu       sync.Mutex
	hc       *http.Client
	caPEM    []byte // CAFile content hc trusts
	key      string
	// configured credentials; Config.Reload may replace them
	apiKey, username, password string
	// secrets are scrubbed from every error and log line: the configured
	// key and password (the first nConfigured) and generated keys.
	secrets     []string
	nConfigured int
}

// New validates cfg, fills defaults and returns a Client. It does no I/O
// (keygen happens on first use or through Keygen) and starts no goroutines.
func New(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("userid: invalid config: %w", err)
	}
	hc, caPEM := cfg.HTTPClient, []byte(nil)
	if hc == nil {
		var err error
		if hc, caPEM, err = cfg.httpClientWithCA(); err != nil {
			return nil, fmt.Errorf("userid: %w", err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:      cfg,
		hc:       hc,
		endpoint: strings.TrimRight(cfg.URL, "/") + "/api/",
		log:      log.With("device", redactURL(cfg.URL)),
		caPEM:    caPEM,
		key:      cfg.APIKey,
		apiKey:   cfg.APIKey,
		username: cfg.Username,
		password: cfg.Password,
	}
	if strings.HasPrefix(cfg.URL, "http://") {
		c.log.Warn("PAN-OS API over plain HTTP: the API key and password travel unencrypted")
	}
	for _, s := range []string{cfg.APIKey, cfg.Password} {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	c.nConfigured = len(c.secrets)
	return c, nil
}

// Close releases idle connections. The Client stays usable.
func (c *Client) Close() { c.httpClient().CloseIdleConnections() }

func (c *Client) httpClient() *http.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hc
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}

// request is one XML API call.
type request struct {
	op     string     // for errors and logs, e.g. "config set"
	params url.Values // form fields: type, action, xpath, element, cmd, ...
	// safe: repeating the request cannot do harm (reads, op commands,
	// keygen, idempotent User-ID updates).
	safe   bool
	noAuth bool // keygen: no key header
	// fast, when set, reads a 200 answer's body itself and reports
	// whether it could; when it could not, the body is parsed the
	// generic way.
	fast func(body []byte) bool
}

// do sends req, retrying where that is safe, and returns the parsed
// successful response.
func (c *Client) do(ctx context.Context, req request) (*response, error) {
	rekeyed, reloaded := false, false
	for attempt := 0; ; attempt++ {
		var key string
		if !req.noAuth {
			k, err := c.ensureKey(ctx)
			if err != nil {
				return nil, err
			}
			key = k
		}
		start := time.Now()
		resp, status, err := c.once(ctx, req, key)
		c.log.DebugContext(ctx, "pan-os request", "op", req.op, "attempt", attempt+1,
			"http_status", status, "duration", time.Since(start), "ok", err == nil)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return resp, err
		}
		// A concurrent call replaced the key while this one was in flight
		// (a new key ends the old session): refused before anything ran,
		// so repeat once with the new key.
		if !req.noAuth && !rekeyed && IsAuth(err) && c.currentKey() != key {
			rekeyed = true
			continue
		}
		// Rotated credentials (a Secret updated in place): read them again
		// and repeat once if they changed.
		if !req.noAuth && !reloaded && IsAuth(err) && c.reloadCredentials(ctx) {
			reloaded = true
			continue
		}
		// A rotated CA: the device's new certificate does not verify with
		// the old bundle; nothing was sent, so repeat once with the new one.
		if !reloaded && isVerifyError(err) && c.reloadCA(ctx) {
			reloaded = true
			continue
		}
		// An expired session (code 22), or a key ended because someone
		// else ran keygen for the same administrator (PAN-OS ends a
		// user's earlier API sessions then: 403): refused before anything
		// ran, so with a password get a new key once and repeat.
		if !req.noAuth && !rekeyed && IsAuth(err) && c.canKeygen() {
			rekeyed = true
			c.dropKey(key)
			c.log.WarnContext(ctx, "pan-os refused the API key, getting a new one (a session timeout, or a keygen for the same user elsewhere)",
				"op", req.op, "error", err.Error())
			continue
		}
		if !req.noAuth && IsAuth(err) && !c.canKeygen() {
			return resp, fmt.Errorf("%w (the configured API key was refused: it may have been revoked, e.g. by a keygen for the same administrator, which ends its earlier API sessions; "+
				"put a new key in the credentials, or configure username and password so kubedag can get keys itself)", err)
		}
		var te *TransportError
		retry := IsRetryable(err) && (req.safe || (errors.As(err, &te) && te.NotSent))
		if !retry || attempt >= c.cfg.Retries {
			return resp, err // resp is set for a failed but well-formed answer
		}
		delay := c.backoff(attempt)
		c.log.WarnContext(ctx, "pan-os request failed, retrying", "op", req.op,
			"attempt", attempt+1, "delay", delay, "error", err.Error())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (gave up retrying: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// backoff is the delay before retry number attempt+1: exponential from
// RetryBackoff, capped at MaxRetryBackoff, jittered to [d/2, d].
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.RetryBackoff
	for i := 0; i < attempt && d < c.cfg.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxRetryBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// once sends req a single time. It returns the HTTP status for logging.
func (c *Client) once(ctx context.Context, req request, key string) (*response, int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(req.params.Encode()))
	if err != nil {
		return nil, 0, fmt.Errorf("pan-os %s: build request: %s", req.op, c.scrub(err.Error()))
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hreq.Header.Set("Accept", "application/xml")
	if key != "" {
		hreq.Header.Set("X-PAN-KEY", key)
	}
	hresp, err := c.httpClient().Do(hreq)
	if err != nil {
		return nil, 0, c.transportError(req.op, err)
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, hresp.StatusCode, c.transportError(req.op, err)
	}
	if int64(len(data)) > c.cfg.MaxResponseBytes {
		return nil, hresp.StatusCode, fmt.Errorf("pan-os %s: %w: response larger than %d bytes", req.op, ErrMalformed, c.cfg.MaxResponseBytes)
	}
	if req.fast != nil && hresp.StatusCode == http.StatusOK && req.fast(data) {
		return &response{Status: "success"}, hresp.StatusCode, nil
	}
	resp, err := c.check(req.op, hresp.StatusCode, data)
	return resp, hresp.StatusCode, err
}

// check parses a response body and turns failures into errors.
func (c *Client) check(op string, httpStatus int, data []byte) (*response, error) {
	resp, perr := parseResponse(data)
	if perr != nil {
		if httpStatus >= 300 {
			return nil, &APIError{Op: op, HTTPStatus: httpStatus,
				Message: c.scrub(http.StatusText(httpStatus) + snippet(data))}
		}
		detail := strings.TrimPrefix(perr.Error(), ErrMalformed.Error()+": ")
		return nil, fmt.Errorf("pan-os %s: %w: %s", op, ErrMalformed, c.scrub(detail))
	}
	if err := resp.err(); err != nil {
		err.Op = op
		err.HTTPStatus = httpStatus
		err.Message = c.scrub(err.Message)
		return resp, err
	}
	if httpStatus >= 300 {
		return nil, &APIError{Op: op, HTTPStatus: httpStatus, Status: resp.Status,
			Code: resp.Code, Message: c.scrub(resp.Message)}
	}
	return resp, nil
}

// snippet quotes the start of a non-XML body for an error message.
func snippet(data []byte) string {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return ""
	}
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return fmt.Sprintf(" (%q)", s)
}

func (c *Client) transportError(op string, err error) error {
	return &TransportError{Op: op, NotSent: notSent(err), msg: c.scrub(err.Error()), err: err}
}

// scrub replaces every secret the client knows with a placeholder.
func (c *Client) scrub(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sec := range c.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
			if esc := url.QueryEscape(sec); esc != sec {
				s = strings.ReplaceAll(s, esc, "[REDACTED]")
			}
		}
	}
	return s
}

func (c *Client) canKeygen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.username != "" && c.password != ""
}

// reloadCredentials asks Config.Reload for the credentials and reports
// whether they changed; a changed API key replaces the one in use.
func (c *Client) reloadCredentials(ctx context.Context) bool {
	if c.cfg.Reload == nil {
		return false
	}
	key, user, pass, err := c.cfg.Reload()
	if err != nil {
		c.log.WarnContext(ctx, "pan-os credentials: reload failed", "error", c.scrub(err.Error()))
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if key == c.apiKey && user == c.username && pass == c.password {
		return false
	}
	if key != c.apiKey {
		c.key = key // empty: keygen with the (new) password
	}
	c.apiKey, c.username, c.password = key, user, pass
	for _, s := range []string{key, pass} {
		if s != "" && !slices.Contains(c.secrets, s) {
			c.secrets = append(c.secrets, s)
		}
	}
	c.log.InfoContext(ctx, "pan-os credentials changed: using the new ones")
	return true
}

// reloadCA re-reads CAFile and, when it changed, trusts the new bundle
// from the next connection on. It reports whether it changed.
func (c *Client) reloadCA(ctx context.Context) bool {
	if c.cfg.CAFile == "" || c.cfg.HTTPClient != nil {
		return false
	}
	pem, err := os.ReadFile(c.cfg.CAFile)
	c.mu.Lock()
	same := err == nil && bytes.Equal(pem, c.caPEM)
	c.mu.Unlock()
	if err != nil || same {
		return false
	}
	hc, caPEM, err := c.cfg.httpClientWithCA()
	if err != nil {
		c.log.WarnContext(ctx, "pan-os CA bundle changed but does not load", "error", err.Error())
		return false
	}
	c.mu.Lock()
	old := c.hc
	c.hc, c.caPEM = hc, caPEM
	c.mu.Unlock()
	old.CloseIdleConnections()
	c.log.InfoContext(ctx, "pan-os CA bundle changed: trusting the new one")
	return true
}

// isVerifyError reports whether err is a failed certificate verification.
func isVerifyError(err error) bool {
	var ua x509.UnknownAuthorityError
	var cv *tls.CertificateVerificationError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &ua) || errors.As(err, &cv) || errors.As(err, &hn) || errors.As(err, &ci)
}

func (c *Client) currentKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.key
}

// dropKey forgets key (if it is still the current one) so the next request
// gets a new one.
func (c *Client) dropKey(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key == key {
		c.key = ""
	}
}

// ensureKey returns the API key, running keygen first if there is none.
func (c *Client) ensureKey(ctx context.Context) (string, error) {
	if k := c.currentKey(); k != "" {
		return k, nil
	}
	c.keygenMu.Lock()
	defer c.keygenMu.Unlock()
	if k := c.currentKey(); k != "" {
		return k, nil
	}
	if err := c.keygenLocked(ctx); err != nil {
		return "", err
	}
	return c.currentKey(), nil
}

// Keygen exchanges Username and Password for an API key (type=keygen) and
// uses it from then on. New calls it lazily when no APIKey is configured.
func (c *Client) Keygen(ctx context.Context) error {
	c.keygenMu.Lock()
	defer c.keygenMu.Unlock()
	return c.keygenLocked(ctx)
}

func (c *Client) keygenLocked(ctx context.Context) error {
	if !c.canKeygen() {
		return errors.New("pan-os keygen: Username and Password are not configured")
	}
	keygen := func() (*response, error) {
		c.mu.Lock()
		user, pass := c.username, c.password
		c.mu.Unlock()
		return c.do(ctx, request{
			op:     "keygen",
			params: url.Values{"type": {"keygen"}, "user": {user}, "password": {pass}},
			safe:   true,
			noAuth: true,
		})
	}
	resp, err := keygen()
	// A rotated password: refused, then read again from the Secret.
	if IsAuth(err) && c.reloadCredentials(ctx) {
		if !c.canKeygen() {
			return nil // the new credentials are an API key
		}
		resp, err = keygen()
	}
	if err != nil {
		return err
	}
	key, err := parseKey(resp)
	if err != nil {
		return fmt.Errorf("pan-os keygen: %w", err)
	}
	c.mu.Lock()
	c.key = key
	// Remember generated keys for scrubbing, bounded: the configured
	// secrets and the newest few keys.
	c.secrets = append(c.secrets, key)
	if extra := len(c.secrets) - c.nConfigured; extra > 4 {
		c.secrets = append(c.secrets[:c.nConfigured:c.nConfigured], c.secrets[len(c.secrets)-4:]...)
	}
	c.mu.Unlock()
	return nil
}
