package awssim

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// PodIdentityPath is where the server plays the EKS Pod Identity agent
// (http://169.254.170.23/v1/credentials in a pod): point
// AWS_CONTAINER_CREDENTIALS_FULL_URI at it.
const PodIdentityPath = "/v1/credentials"

// PodIdentity makes the Pod Identity endpoint hand out role's session
// credentials to callers presenting token (the projected ServiceAccount
// token the agent would check).
func (s *Server) PodIdentity(token, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.podTokens[token] = role
}

// servePodIdentity answers as the Pod Identity agent: the container
// credentials JSON shape the SDK's endpointcreds provider reads.
func (s *Server) servePodIdentity(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	role, ok := s.podTokens[r.Header.Get("Authorization")]
	var id string
	var k key
	if ok {
		id, k = s.issue(role, "eks-pod-identity", time.Hour)
	}
	s.log = append(s.log, Request{Service: "eks-auth", Action: "AssumeRoleForPodIdentity", Answer: map[bool]int{true: 200, false: 403}[ok]})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(map[string]string{"code": "AccessDeniedException", "message": "invalid Pod Identity token"})
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"AccessKeyId": id, "SecretAccessKey": k.secret, "Token": k.token,
		"AccountId": Account, "Expiration": k.expires.Format(time.RFC3339)})
}

// issue creates session credentials for role; called with s.mu held.
func (s *Server) issue(role, session string, d time.Duration) (string, key) {
	name := role[strings.LastIndex(role, "/")+1:]
	k := key{secret: newKey("", 40), token: newKey("IQoJsim", 200), expires: s.clock().Add(d),
		arn:    fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", Account, name, session),
		userID: roleID(role) + ":" + session}
	id := newKey("ASIA", 16)
	s.keys[id] = k
	return id, k
}

type webIdentityResponse struct {
	XMLName   xml.Name `xml:"AssumeRoleWithWebIdentityResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Subject   string   `xml:"AssumeRoleWithWebIdentityResult>SubjectFromWebIdentityToken"`
	Audience  string   `xml:"AssumeRoleWithWebIdentityResult>Audience"`
	UserARN   string   `xml:"AssumeRoleWithWebIdentityResult>AssumedRoleUser>Arn"`
	UserID    string   `xml:"AssumeRoleWithWebIdentityResult>AssumedRoleUser>AssumedRoleId"`
	KeyID     string   `xml:"AssumeRoleWithWebIdentityResult>Credentials>AccessKeyId"`
	Secret    string   `xml:"AssumeRoleWithWebIdentityResult>Credentials>SecretAccessKey"`
	Token     string   `xml:"AssumeRoleWithWebIdentityResult>Credentials>SessionToken"`
	Expires   string   `xml:"AssumeRoleWithWebIdentityResult>Credentials>Expiration"`
	Provider  string   `xml:"AssumeRoleWithWebIdentityResult>Provider"`
	RequestID string   `xml:"ResponseMetadata>RequestId"`
}

// assumeRoleWithWebIdentity is IRSA's exchange of the projected
// ServiceAccount token (a JWT) for the annotated role's credentials; the
// role must be in Model.Roles. Called with s.mu held.
func (s *Server) assumeRoleWithWebIdentity(c *call) ([]byte, *apiError) {
	role, session, token := c.form.Get("RoleArn"), c.form.Get("RoleSessionName"), c.form.Get("WebIdentityToken")
	dur, verr := validateAssume(c, true)
	if verr != nil {
		return nil, verr
	}
	claims, cerr := tokenClaims(token, c.now)
	if cerr != nil {
		return nil, cerr
	}
	if !c.model.Roles[role] {
		return nil, &apiError{status: 403, code: "AccessDenied", msg: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
	}
	id, k := s.issue(role, session, dur)
	provider := "oidc.eks." + s.region + ".amazonaws.com/id/SIM"
	if claims.iss != "" {
		provider = strings.TrimPrefix(claims.iss, "https://")
	}
	b, _ := xml.Marshal(webIdentityResponse{Xmlns: namespace("sts"), Subject: claims.sub, Audience: claims.aud,
		UserARN: k.arn, UserID: k.userID, KeyID: id, Secret: k.secret, Token: k.token, Expires: k.expires.Format(time.RFC3339),
		Provider: "arn:aws:iam::" + Account + ":oidc-provider/" + provider, RequestID: c.id})
	return b, nil
}

// roleID is a role's unique ID as IAM shows it (AROA and 17 characters),
// stable for a role ARN.
func roleID(role string) string {
	sum := sha256.Sum256([]byte(role))
	return "AROA" + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

type callerIdentityResponse struct {
	XMLName   xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Arn       string   `xml:"GetCallerIdentityResult>Arn"`
	UserID    string   `xml:"GetCallerIdentityResult>UserId"`
	Account   string   `xml:"GetCallerIdentityResult>Account"`
	RequestID string   `xml:"ResponseMetadata>RequestId"`
}

// getCallerIdentity names the caller: the IAM user of the static key or
// the assumed role of session credentials. Discovery does not call it, but
// every AWS tool's "who am I" does, and it needs no permission.
func getCallerIdentity(c *call) ([]byte, *apiError) {
	b, _ := xml.Marshal(callerIdentityResponse{Xmlns: namespace("sts"), Arn: c.caller.arn, UserID: c.caller.userID, Account: Account, RequestID: c.id})
	return b, nil
}

// jwtClaims are the claims of a web identity token STS answers with.
type jwtClaims struct {
	sub, aud, iss string
}

// tokenClaims reads a web identity token (a JWT, as a projected
// ServiceAccount token is) as STS would, short of checking its signature
// against the issuer's keys: it must be three base64url parts with a JSON
// payload, unexpired if it has exp, for sts.amazonaws.com if it has aud.
func tokenClaims(token string, now time.Time) (jwtClaims, *apiError) {
	invalid := &apiError{status: 400, code: "InvalidIdentityToken", msg: "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return jwtClaims{}, invalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	var payload struct {
		Sub string          `json:"sub"`
		Iss string          `json:"iss"`
		Exp *float64        `json:"exp"`
		Aud json.RawMessage `json:"aud"`
	}
	if err != nil || json.Unmarshal(raw, &payload) != nil {
		return jwtClaims{}, invalid
	}
	var auds []string
	if len(payload.Aud) > 0 {
		var one string
		if json.Unmarshal(payload.Aud, &one) == nil {
			auds = []string{one}
		} else if json.Unmarshal(payload.Aud, &auds) != nil {
			return jwtClaims{}, invalid
		}
	}
	if payload.Exp != nil && now.Unix() >= int64(*payload.Exp) {
		return jwtClaims{}, &apiError{status: 400, code: "ExpiredTokenException",
			msg: fmt.Sprintf("Token expired: current date/time %d must be before the expiration date/time%d", now.Unix(), int64(*payload.Exp))}
	}
	c := jwtClaims{sub: payload.Sub, iss: payload.Iss, aud: "sts.amazonaws.com"}
	if len(auds) > 0 {
		if !slices.Contains(auds, "sts.amazonaws.com") {
			return jwtClaims{}, &apiError{status: 400, code: "InvalidIdentityToken", msg: "Incorrect token audience"}
		}
	}
	return c, nil
}
