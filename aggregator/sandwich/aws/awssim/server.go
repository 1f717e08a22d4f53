package awssim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Account is the simulated AWS account ID.
const Account = "123456789012"

// Request is one call as the server saw it.
type Request struct {
	Service   string // eks, ec2, elasticloadbalancing, sts
	Action    string // DescribeSubnets, ...
	AccessKey string
	// Answer is the HTTP status returned.
	Answer int
}

// Server is the simulated AWS endpoint. Its zero value is not usable; call New.
type Server struct {
	region string

	mu        sync.Mutex
	model     *Model
	keys      map[string]key // access key ID -> secret and identity
	pageSize  int
	podTokens map[string]string // Pod Identity agent token -> role ARN
	throttle  map[string]int    // IAM action -> throttled answers left
	denied    map[string]bool
	outage    bool
	log       []Request
}

type key struct {
	secret, token, arn string
	expires            time.Time
}

// Static credentials accepted by every new Server, as an IAM user's.
const (
	AccessKeyID     = "AKIAKUBEDAGSIMULATED"
	SecretAccessKey = "simulated/secret/for/kubedag/tests/only0"
)

// New returns a server for region with an empty model.
func New(region string) *Server {
	return &Server{
		region:    region,
		model:     NewModel(),
		keys:      map[string]key{AccessKeyID: {secret: SecretAccessKey, arn: "arn:aws:iam::" + Account + ":user/kubedag"}},
		pageSize:  1000,
		throttle:  map[string]int{},
		podTokens: map[string]string{},
		denied:    map[string]bool{},
	}
}

// Region is the server's region.
func (s *Server) Region() string { return s.region }

// Credentials are static credentials the server accepts.
func (s *Server) Credentials() aws.Credentials {
	return aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey, Source: "awssim"}
}

// Update changes the model under the server's lock.
func (s *Server) Update(f func(m *Model)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.model)
}

// Snapshot returns a deep copy of the model.
func (s *Server) Snapshot() *Model {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.model.clone()
}

// SetPageSize caps every paged answer at n items (AWS may return fewer than
// MaxResults), so tests exercise pagination with a small model.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = max(n, 1)
}

// Throttle answers the next n calls of an IAM action (e.g.
// "ec2:DescribeInstances") with the service's throttling error.
func (s *Server) Throttle(action string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle[action] = n
}

// Deny makes an IAM action fail with the service's access-denied error
// (deny true) or succeed again (false).
func (s *Server) Deny(action string, deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if deny {
		s.denied[action] = true
	} else {
		delete(s.denied, action)
	}
}

// SetOutage makes every call fail with 503 Service Unavailable (on) until
// turned off.
func (s *Server) SetOutage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = on
}

// Requests returns the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// call is one request in flight: what the handlers need to answer it.
type call struct {
	service, action string
	region          string
	form            url.Values
	path            string
	caller          key
	model           *Model
	pageSize        int
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.URL.Path == PodIdentityPath {
		s.servePodIdentity(w, r)
		return
	}
	service, akid, authErr := s.authenticate(r, body)
	if authErr != nil && r.Header.Get("Authorization") == "" {
		// AssumeRoleWithWebIdentity (IRSA) is STS's one unsigned call.
		if f, err := url.ParseQuery(string(body)); err == nil && f.Get("Action") == "AssumeRoleWithWebIdentity" {
			service, authErr = "sts", nil
		}
	}
	c := &call{service: service, region: s.region, path: r.URL.Path}
	if service != "eks" {
		c.form, err = url.ParseQuery(string(body))
		if err != nil {
			authErr = &apiError{status: 400, code: "MalformedQueryString", msg: err.Error()}
		}
		c.action = c.form.Get("Action")
	} else if name, ok := strings.CutPrefix(r.URL.Path, "/clusters/"); ok && r.Method == http.MethodGet && name != "" && !strings.Contains(name, "/") {
		c.action = "DescribeCluster"
	}

	s.mu.Lock()
	rec := Request{Service: service, Action: c.action, AccessKey: akid}
	var answer *apiError
	switch {
	case s.outage:
		answer = &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", msg: "Service is unavailable. Please try again later."}
	case authErr != nil:
		answer = authErr
	default:
		c.caller = s.keys[akid]
		iam := iamPrefix(service) + ":" + c.action
		switch {
		case s.throttle[iam] > 0:
			s.throttle[iam]--
			answer = throttled(service)
		case s.denied[iam]:
			answer = denied(service, c.caller.arn, iam)
		}
	}
	var out []byte
	if answer == nil {
		c.model, c.pageSize = s.model, s.pageSize
		out, answer = s.dispatch(c)
	}
	rec.Answer = http.StatusOK
	if answer != nil {
		rec.Answer = answer.status
	}
	s.log = append(s.log, rec)
	s.mu.Unlock()

	if answer != nil {
		writeError(w, service, answer)
		return
	}
	if service == "eks" {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	}
	w.Header().Set("X-Amzn-RequestId", requestID())
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// dispatch runs the handler for c; called with s.mu held.
func (s *Server) dispatch(c *call) ([]byte, *apiError) {
	switch c.service + ":" + c.action {
	case "eks:DescribeCluster":
		return s.describeCluster(c)
	case "ec2:DescribeSubnets":
		return describeSubnets(c)
	case "ec2:DescribeInstances":
		return describeInstances(c)
	case "ec2:DescribeNetworkInterfaces":
		return describeNetworkInterfaces(c)
	case "elasticloadbalancing:DescribeLoadBalancers":
		return describeLoadBalancers(c)
	case "sts:AssumeRole":
		return s.assumeRole(c)
	case "sts:AssumeRoleWithWebIdentity":
		return s.assumeRoleWithWebIdentity(c)
	}
	if c.service == "eks" {
		return nil, &apiError{status: 404, code: "UnknownOperationException", msg: "Unknown operation " + c.path}
	}
	return nil, &apiError{status: 400, code: "InvalidAction", msg: fmt.Sprintf("The action %s is not valid for this web service.", c.action)}
}

// authenticate checks the SigV4 signature by recomputing it with the SDK's
// signer over the headers the client signed, and returns the signing service
// and access key.
func (s *Server) authenticate(r *http.Request, body []byte) (service, akid string, _ *apiError) {
	auth := r.Header.Get("Authorization")
	missing := &apiError{status: 403, code: "MissingAuthenticationToken", msg: "Request is missing Authentication Token"}
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return guessService(r), "", missing
	}
	var cred, signedHeaders string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signedHeaders = v
		}
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return guessService(r), "", &apiError{status: 400, code: "IncompleteSignature", msg: "Authorization header requires a valid Credential."}
	}
	akid, region, service := scope[0], scope[2], scope[3]
	if region != s.region {
		return service, akid, &apiError{status: 400, code: "SignatureDoesNotMatch", msg: fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", region)}
	}

	s.mu.Lock()
	k, known := s.keys[akid]
	s.mu.Unlock()
	if !known {
		return service, akid, invalidKey(service)
	}
	if k.token != "" && (r.Header.Get("X-Amz-Security-Token") != k.token || time.Now().After(k.expires)) {
		return service, akid, &apiError{status: 403, code: "ExpiredToken", msg: "The security token included in the request is expired"}
	}
	signingTime, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return service, akid, &apiError{status: 400, code: "IncompleteSignature", msg: "X-Amz-Date is missing or malformed."}
	}

	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	again, _ := http.NewRequest(r.Method, u.String(), bytes.NewReader(body))
	again.Host = r.Host
	again.ContentLength = r.ContentLength
	for _, h := range strings.Split(signedHeaders, ";") {
		if h == "host" || h == "content-length" {
			continue
		}
		for _, v := range r.Header.Values(h) {
			again.Header.Add(h, v)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: k.secret, SessionToken: k.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), service, region, signingTime); err != nil {
		return service, akid, &apiError{status: 500, code: "InternalFailure", msg: err.Error()}
	}
	if again.Header.Get("Authorization") != auth {
		return service, akid, &apiError{status: 403, code: "SignatureDoesNotMatch", msg: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}
	}
	return service, akid, nil
}

// guessService names the service of an unsigned request, for the error shape.
func guessService(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/clusters") {
		return "eks"
	}
	return "ec2"
}

func iamPrefix(service string) string { return service }

func requestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func newKey(prefix string, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}
