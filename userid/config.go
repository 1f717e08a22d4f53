package userid

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults and limits of Config.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxEntries       = 1000
	DefaultMaxBytes         = 5 << 20 // PAN-OS refuses POST bodies above 5 MB
	DefaultRetries          = 3
	DefaultRetryBackoff     = 250 * time.Millisecond
	DefaultMaxRetryBackoff  = 5 * time.Second
	DefaultMaxResponseBytes = 64 << 20
	DefaultListConcurrency  = 4
	// MaxListConcurrency keeps a listing within the ~5 concurrent API
	// calls per device that Palo Alto recommends.
	MaxListConcurrency = 5

	// MaxTagTimeout is the longest tag timeout PAN-OS accepts (30 days).
	MaxTagTimeout = 2592000 * time.Second

	// maxConnsPerHost keeps us under the ~5 concurrent API calls a device
	// tolerates.
	maxConnsPerHost = 5
)

// Config describes how to reach one PAN-OS device (a firewall vsys or a
// Panorama) and how to batch and retry requests to it.
type Config struct {
	// URL is the device's base URL, e.g. https://fw.example:443. The path
	// /api/ is appended. It must not carry credentials or a query.
	URL string
	// APIKey authenticates requests. When empty, Username and Password are
	// exchanged for a key (type=keygen) on first use or by Keygen.
	APIKey string
	// Username and Password are used for keygen when APIKey is empty, and
	// to get a fresh key once when the device reports the session timed out
	// (code 22).
	Username, Password string
	// CAFile is a PEM bundle of CAs trusted for the device's certificate.
	// Empty means RootCAs, or the system roots when RootCAs is nil too.
	CAFile string
	// RootCAs is a CA pool trusted for the device's certificate; CAFile's
	// certificates are added to it (the pool itself is not modified).
	RootCAs *x509.CertPool
	// InsecureSkipVerify turns off TLS certificate verification. Explicit
	// opt-in only; never the default.
	InsecureSkipVerify bool
	// Timeout bounds each HTTP request (one attempt). Default 30s.
	Timeout time.Duration
	// Vsys, when set, is sent as vsys=... on User-ID calls and registered-IP
	// listings (multi-vsys firewalls).
	Vsys string
	// Target, when set, is sent as target=SERIAL on User-ID calls and
	// registered-IP listings, so Panorama forwards them to that firewall.
	Target string
	// MaxEntries caps the entries (IPs) of one uid-message. Default 1,000.
	MaxEntries int
	// MaxBytes caps the encoded request body of one uid-message. Default and
	// maximum 5 MiB.
	MaxBytes int
	// Retries is how many times a request that is safe to repeat is retried
	// after a retryable failure. Default 3; negative disables retries.
	Retries int
	// RetryBackoff is the first retry delay; it doubles on every retry up
	// to MaxRetryBackoff, and each delay is jittered to [d/2, d].
	// Defaults 250ms and 5s.
	RetryBackoff, MaxRetryBackoff time.Duration
	// MaxResponseBytes bounds how much of a response is read. Default
	// 64 MiB.
	MaxResponseBytes int64
	// ListConcurrency is how many registered-IP pages RegisteredIPs
	// requests at once. Default 4, at most MaxListConcurrency; 1 pages
	// strictly one after the other.
	ListConcurrency int
	// HTTPClient overrides the HTTP client (tests). When set, CAFile,
	// RootCAs and InsecureSkipVerify are ignored, and Timeout still applies
	// per request through the context.
	HTTPClient *http.Client
	// Logger receives debug lines per request and warnings on retries. It
	// never sees a key or password. Default: discard.
	Logger *slog.Logger
	// Reload, when set, re-reads the credentials (e.g. files of a mounted
	// Secret, which the kubelet updates in place). The client calls it when
	// the device refuses the key or the password, and uses what changed, so
	// rotated credentials work without a restart. CAFile is re-read, the
	// same way, when the device's certificate does not verify.
	Reload func() (apiKey, username, password string, err error)
}

func (cfg *Config) validate() error {
	if cfg.URL == "" {
		return errors.New("URL is required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Parse errors quote the input; keep them out of our error in
		// case someone pasted a key into the URL.
		return errors.New("URL does not parse")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("URL scheme must be https or http, got %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("URL has no host")
	}
	if u.User != nil {
		return errors.New("URL must not carry credentials; use APIKey or Username/Password")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("URL must not carry a query or fragment (the API key goes in a header)")
	}
	if cfg.APIKey == "" && (cfg.Username == "" || cfg.Password == "") {
		return errors.New("either APIKey or Username and Password are required")
	}
	if cfg.Timeout < 0 || cfg.MaxEntries < 0 || cfg.MaxBytes < 0 || cfg.RetryBackoff < 0 ||
		cfg.MaxRetryBackoff < 0 || cfg.MaxResponseBytes < 0 {
		return errors.New("Timeout, MaxEntries, MaxBytes, RetryBackoff, MaxRetryBackoff and MaxResponseBytes must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxBytes > DefaultMaxBytes {
		return fmt.Errorf("MaxBytes %d exceeds the PAN-OS limit of %d", cfg.MaxBytes, DefaultMaxBytes)
	}
	if cfg.MaxBytes < 1024 {
		return fmt.Errorf("MaxBytes %d is too small to hold a uid-message", cfg.MaxBytes)
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.MaxRetryBackoff == 0 {
		cfg.MaxRetryBackoff = DefaultMaxRetryBackoff
	}
	if cfg.MaxRetryBackoff < cfg.RetryBackoff {
		cfg.MaxRetryBackoff = cfg.RetryBackoff
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.ListConcurrency == 0 {
		cfg.ListConcurrency = DefaultListConcurrency
	}
	if cfg.ListConcurrency < 0 || cfg.ListConcurrency > MaxListConcurrency {
		return fmt.Errorf("ListConcurrency %d: want 1 to %d", cfg.ListConcurrency, MaxListConcurrency)
	}
	if strings.ContainsAny(cfg.Vsys+cfg.Target, "<>&\"' ") {
		return errors.New("Vsys and Target must be plain names")
	}
	return nil
}

// httpClientWithCA builds the HTTP client for cfg (TLS verification on
// unless explicitly skipped, a bounded number of connections to the
// device) and returns the CAFile content it trusts (nil without CAFile),
// so a reload can tell whether it changed.
func (cfg *Config) httpClientWithCA() (*http.Client, []byte, error) {
	var caPEM []byte
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // explicit opt-in
	if cfg.RootCAs != nil || cfg.CAFile != "" {
		pool := x509.NewCertPool()
		if cfg.RootCAs != nil {
			pool = cfg.RootCAs.Clone()
		}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, nil, fmt.Errorf("read CA bundle: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("CA bundle %s holds no PEM certificate", cfg.CAFile)
			}
			caPEM = pem
		}
		tlsCfg.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.MaxConnsPerHost = maxConnsPerHost
	tr.MaxIdleConnsPerHost = maxConnsPerHost
	tr.Proxy = http.ProxyFromEnvironment
	return &http.Client{
		Transport: tr,
		// PAN-OS does not redirect API calls; following one could send the
		// key header to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, caPEM, nil
}
