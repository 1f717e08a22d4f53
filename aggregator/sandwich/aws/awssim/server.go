package awssim

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
	cas       map[string]string // cluster ARN -> its CA (certificateAuthority.data)
	// now is the server's clock (time.Now unless a test sets it), for
	// signature age and credential expiry.
	now func() time.Time
}

type key struct {
	secret, token, arn string
	userID             string // what GetCallerIdentity answers as UserId
	expires            time.Time
}

// answerLatency is the least time an answer takes (see ServeHTTP).
const answerLatency = time.Millisecond

// Static credentials accepted by every new Server, as an IAM user's.
const (
	AccessKeyID     = "AKIAKUBEDAGSIMULATED"
	SecretAccessKey = "simulated/secret/for/kubedag/tests/only0"
)

// New returns a server for region with an empty model.
func New(region string) *Server {
	return &Server{
		region: region,
		model:  NewModel(),
		keys: map[string]key{AccessKeyID: {secret: SecretAccessKey, arn: "arn:aws:iam::" + Account + ":user/kubedag",
			userID: "AIDAKUBEDAGSIMULATED0"}},
		pageSize:  1000,
		throttle:  map[string]int{},
		podTokens: map[string]string{},
		denied:    map[string]bool{},
		now:       time.Now,
		cas:       map[string]string{},
	}
}

func (s *Server) clock() time.Time { return s.now().UTC() }

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
	form            url.Values // query protocols' parameters
	query           url.Values // REST-JSON's query string
	path            string
	id              string // request ID, in the header and the body
	now             time.Time
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
	// One ID per request, in the header and in the body as AWS gives it.
	id := requestID()
	w.Header().Set("X-Amzn-RequestId", id)
	eks := strings.HasPrefix(r.URL.Path, "/clusters")
	var form url.Values
	var formErr *apiError
	if !eks {
		// The query protocols take their parameters from a form body
		// (what SDKs send) or from the URL of a GET.
		form, err = url.ParseQuery(r.URL.RawQuery)
		if err == nil && len(body) > 0 {
			var f url.Values
			if f, err = url.ParseQuery(string(body)); err == nil {
				for k, v := range f {
					form[k] = append(form[k], v...)
				}
			}
		}
		if err != nil {
			formErr = &apiError{status: 404, code: "MalformedQueryString", msg: "The query string contains a syntax error: " + err.Error()}
		}
	}
	service, akid, authErr := s.authenticate(r, body, form)
	for k := range form {
		if strings.HasPrefix(k, "X-Amz-") { // a presigned URL's signature, not the action's parameters
			delete(form, k)
		}
	}
	if authErr != nil && r.Header.Get("Authorization") == "" && service == "sts" && form.Get("Action") == "AssumeRoleWithWebIdentity" {
		// AssumeRoleWithWebIdentity (IRSA) is STS's one unsigned call.
		authErr = nil
	}
	c := &call{service: service, region: s.region, path: r.URL.Path, form: form, id: id, now: s.clock()}
	switch {
	case service == "eks":
		switch {
		case r.URL.Path == "/clusters" && r.Method == http.MethodGet:
			c.action = "ListClusters"
		case strings.HasPrefix(r.URL.Path, "/clusters/") && r.Method == http.MethodGet && !strings.Contains(strings.TrimPrefix(r.URL.Path, "/clusters/"), "/") && len(r.URL.Path) > len("/clusters/"):
			c.action = "DescribeCluster"
		}
		c.query = r.URL.Query()
	case formErr != nil:
		authErr = cmp.Or(authErr, formErr)
	default:
		c.action = form.Get("Action")
	}

	s.mu.Lock()
	rec := Request{Service: service, Action: c.action, AccessKey: akid}
	var answer *apiError
	switch {
	case s.outage:
		answer = unavailable(service)
	case authErr != nil:
		answer = authErr
	default:
		c.caller = s.keys[akid]
		iam := iamPrefix(service) + ":" + c.action
		switch {
		case s.throttle[iam] > 0:
			s.throttle[iam]--
			answer = throttled(service)
		case s.denied[iam] && iam != "sts:GetCallerIdentity": // needs no permission
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

	// An answer comes no sooner than a network round trip would bring it.
	// Answered within microseconds, a retried call races in the client:
	// net/http's writer is still reading the request body past its
	// Content-Length when aws-sdk-go-v2, holding the answer, rewinds that
	// body (shared by every attempt) or closes it, and the connection is torn
	// down under the next answer ("use of closed network connection").
	time.Sleep(answerLatency)
	if answer != nil {
		writeError(w, service, answer, id)
		return
	}
	switch service {
	case "eks":
		w.Header().Set("Content-Type", "application/json")
	case "ec2":
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	default:
		w.Header().Set("Content-Type", "text/xml")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// dispatch runs the handler for c; called with s.mu held.
func (s *Server) dispatch(c *call) ([]byte, *apiError) {
	// One signing name serves two APIs: ELBv2 (2015-12-01) and the Classic
	// load balancers (2012-06-01), which hold none of the model's.
	if c.service == "elasticloadbalancing" && c.form.Get("Version") == "2012-06-01" && c.action == "DescribeLoadBalancers" {
		return describeClassicLoadBalancers(c)
	}
	if v, ok := apiVersion[c.service]; ok && c.form.Get("Version") != v {
		return nil, &apiError{status: 400, code: "InvalidAction", msg: fmt.Sprintf("Could not find operation %s for version %s", c.action, c.form.Get("Version"))}
	}
	switch c.service + ":" + c.action {
	case "eks:DescribeCluster":
		return s.describeCluster(c)
	case "eks:ListClusters":
		return listClusters(c)
	case "ec2:DescribeSubnets":
		return describeSubnets(c)
	case "ec2:DescribeInstances":
		return describeInstances(c)
	case "ec2:DescribeNetworkInterfaces":
		return describeNetworkInterfaces(c)
	case "ec2:DescribeVpcs":
		return describeVpcs(c)
	case "ec2:DescribeAvailabilityZones":
		return describeAvailabilityZones(c)
	case "ec2:DescribeSecurityGroups":
		return describeSecurityGroups(c)
	case "ec2:DescribeRouteTables":
		return describeRouteTables(c)
	case "elasticloadbalancing:DescribeLoadBalancers":
		return describeLoadBalancers(c)
	case "elasticloadbalancing:DescribeTargetGroups":
		return describeTargetGroups(c)
	case "elasticloadbalancing:DescribeTargetHealth":
		return describeTargetHealth(c)
	case "elasticloadbalancing:DescribeListeners":
		return describeListeners(c)
	case "sts:AssumeRole":
		return s.assumeRole(c)
	case "sts:AssumeRoleWithWebIdentity":
		return s.assumeRoleWithWebIdentity(c)
	case "sts:GetCallerIdentity":
		return getCallerIdentity(c)
	}
	switch {
	case c.service == "eks":
		return nil, &apiError{status: 404, code: "UnknownOperationException", msg: "Unknown operation " + c.path}
	case c.action == "":
		return nil, &apiError{status: 400, code: "MissingAction", msg: "Missing Action"}
	case c.service == "ec2":
		return nil, &apiError{status: 400, code: "InvalidAction", msg: fmt.Sprintf("The action %s is not valid for this web service.", c.action)}
	}
	return nil, &apiError{status: 400, code: "InvalidAction", msg: fmt.Sprintf("Could not find operation %s for version %s", c.action, c.form.Get("Version"))}
}

// authenticate checks the SigV4 signature as AWS does, over exactly the
// headers the client signed, whether in the Authorization header or in the
// query of a presigned URL, and returns the signing service and access key.
func (s *Server) authenticate(r *http.Request, body []byte, form url.Values) (service, akid string, _ *apiError) {
	auth := r.Header.Get("Authorization")
	q := r.URL.Query()
	presigned := auth == "" && q.Get("X-Amz-Algorithm") != ""
	var sig sigV4
	var perr *apiError
	if presigned {
		sig, perr = parsePresigned(q)
	} else {
		var ok bool
		if sig, ok, perr = parseAuthorization(auth); !ok {
			return guessService(r, form), "", &apiError{status: 403, code: "MissingAuthenticationToken", msg: "Request is missing Authentication Token"}
		}
	}
	if perr != nil {
		return guessService(r, form), "", perr
	}
	service, akid = sig.service, sig.akid
	if sig.region != s.region {
		return service, akid, badSignature(service, fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", sig.region))
	}
	var signingTime time.Time
	var amzDate, token string
	if presigned {
		amzDate, token = q.Get("X-Amz-Date"), q.Get("X-Amz-Security-Token")
		t, err := time.Parse("20060102T150405Z", amzDate)
		expires, eerr := strconv.Atoi(q.Get("X-Amz-Expires"))
		if err != nil || eerr != nil || expires < 1 || expires > 604800 {
			return service, akid, &apiError{status: 400, code: "AuthorizationQueryParametersError",
				msg: "X-Amz-Date must be in the ISO8601 Long Format and X-Amz-Expires an integer from 1 to 604800"}
		}
		// A presigned URL is good from its date until it expires.
		if now := s.clock(); now.After(t.Add(time.Duration(expires) * time.Second)) {
			return service, akid, presignExpired(service, amzDate, t.Add(time.Duration(expires)*time.Second), now)
		}
		signingTime = t
		if e := clockSkew(service, signingTime, amzDate, s.clock()); e != nil && signingTime.After(s.clock()) {
			return service, akid, e
		}
	} else {
		var ok bool
		signingTime, amzDate, ok = requestTime(r)
		if !ok {
			return service, akid, &apiError{status: 400, code: "IncompleteSignature", msg: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=" + auth}
		}
		if e := clockSkew(service, signingTime, amzDate, s.clock()); e != nil {
			return service, akid, e
		}
		token = r.Header.Get("X-Amz-Security-Token")
	}

	s.mu.Lock()
	k, known := s.keys[akid]
	s.mu.Unlock()
	if !known {
		return service, akid, invalidKey(service)
	}
	if k.token != "" {
		// A session key is only known with its token.
		if token != k.token {
			return service, akid, invalidKey(service)
		}
		if s.clock().After(k.expires) {
			return service, akid, expiredToken(service)
		}
	}
	if !hmac.Equal([]byte(expectedSignature(r, body, sig, k.secret, amzDate)), []byte(sig.signature)) {
		return service, akid, badSignature(service, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return service, akid, nil
}

// apiVersion is the one API version each query service here speaks (EC2
// answers its older versions too, in the same shapes).
var apiVersion = map[string]string{"sts": "2011-06-15", "elasticloadbalancing": "2015-12-01"}

// guessService names the service of an unsigned request, for the error
// shape: AWS knows it from the host name, the simulator (one endpoint for
// all) from the path or the API version the query protocols send.
func guessService(r *http.Request, form url.Values) string {
	if strings.HasPrefix(r.URL.Path, "/clusters") {
		return "eks"
	}
	switch form.Get("Version") {
	case "2011-06-15":
		return "sts"
	case "2015-12-01":
		return "elasticloadbalancing"
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
