package awssim

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// apiError is an error answer before it is shaped for its protocol.
type apiError struct {
	status    int
	code, msg string
	// fields are the error shape's other members (REST-JSON only), e.g.
	// EKS's clusterName.
	fields map[string]string
}

// unavailable is the answer during an outage, as each service's model
// names it.
func unavailable(service string) *apiError {
	if service == "eks" {
		return &apiError{status: 503, code: "ServiceUnavailableException", msg: "Service is unavailable. Please try again later."}
	}
	return &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", msg: "Service is unavailable. Please try again later."}
}

// throttled is the service's own throttling answer: EC2 answers 503
// RequestLimitExceeded, the query services 400 Throttling, EKS 429.
func throttled(service string) *apiError {
	switch service {
	case "ec2":
		return &apiError{status: 503, code: "RequestLimitExceeded", msg: "Request limit exceeded."}
	case "eks":
		return &apiError{status: 429, code: "ThrottlingException", msg: "Rate exceeded"}
	}
	return &apiError{status: 400, code: "Throttling", msg: "Rate exceeded"}
}

// denied is the answer to a call the caller's policies do not allow; the
// message names the IAM action as AWS's does.
func denied(service, arn, action string) *apiError {
	switch service {
	case "ec2":
		return &apiError{status: 403, code: "UnauthorizedOperation", msg: fmt.Sprintf(
			"You are not authorized to perform this operation. User: %s is not authorized to perform: %s because no identity-based policy allows the %s action", arn, action, action)}
	case "eks":
		return &apiError{status: 403, code: "AccessDeniedException", msg: fmt.Sprintf(
			"User: %s is not authorized to perform: %s because no identity-based policy allows the %s action", arn, action, action)}
	}
	return &apiError{status: 403, code: "AccessDenied", msg: fmt.Sprintf(
		"User: %s is not authorized to perform: %s because no identity-based policy allows the %s action", arn, action, action)}
}

func invalidKey(service string) *apiError {
	switch service {
	case "ec2":
		return &apiError{status: 401, code: "AuthFailure", msg: "AWS was not able to validate the provided access credentials"}
	case "eks":
		return &apiError{status: 403, code: "UnrecognizedClientException", msg: "The security token included in the request is invalid."}
	}
	return &apiError{status: 403, code: "InvalidClientTokenId", msg: "The security token included in the request is invalid."}
}

// badSignature is the answer to a signature AWS cannot verify (wrong
// secret, wrong region in the scope): EC2 answers it as it answers an
// unknown key, REST-JSON services with InvalidSignatureException, the query
// services with SignatureDoesNotMatch.
func badSignature(service, msg string) *apiError {
	switch service {
	case "ec2":
		return invalidKey(service)
	case "eks":
		return &apiError{status: 403, code: "InvalidSignatureException", msg: msg}
	}
	return &apiError{status: 403, code: "SignatureDoesNotMatch", msg: msg}
}

// clockSkew refuses a request signed more than 15 minutes from now, as
// AWS does; the Go SDK corrects its clock from these answers and retries.
func clockSkew(service string, signed time.Time, amzDate string, now time.Time) *apiError {
	const skew = 15 * time.Minute
	const f = "20060102T150405Z"
	var msg string
	switch {
	case signed.Before(now.Add(-skew)):
		msg = fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)", amzDate, now.Add(-skew).Format(f), now.Format(f))
	case signed.After(now.Add(skew)):
		msg = fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 15 min.)", amzDate, now.Add(skew).Format(f), now.Format(f))
	default:
		return nil
	}
	return expired(service, "InvalidSignatureException", "SignatureDoesNotMatch", msg)
}

// expired is a request's answer once its signature or credentials are out
// of time: EC2 has one code for every case, EKS (REST-JSON) and the query
// services their own, with msg.
func expired(service, eksCode, queryCode, msg string) *apiError {
	switch service {
	case "ec2":
		return &apiError{status: 400, code: "RequestExpired", msg: "Request has expired."}
	case "eks":
		return &apiError{status: 403, code: eksCode, msg: msg}
	}
	return &apiError{status: 403, code: queryCode, msg: msg}
}

// presignExpired is the answer to a presigned URL used after X-Amz-Expires
// (at is when it expired).
func presignExpired(service, amzDate string, at, now time.Time) *apiError {
	const f = "20060102T150405Z"
	msg := fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - X-Amz-Expires).", at.Format(f), now.Format(f), amzDate)
	return expired(service, "InvalidSignatureException", "SignatureDoesNotMatch", msg)
}

// expiredToken is the answer to session credentials past their expiry.
func expiredToken(service string) *apiError {
	return expired(service, "ExpiredTokenException", "ExpiredToken", "The security token included in the request is expired")
}

type ec2ErrorResponse struct {
	XMLName xml.Name `xml:"Response"`
	Code    string   `xml:"Errors>Error>Code"`
	Message string   `xml:"Errors>Error>Message"`
	ID      string   `xml:"RequestID"`
}

type queryErrorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
	ID      string   `xml:"RequestId"`
}

// writeError shapes e for service's protocol.
func writeError(w http.ResponseWriter, service string, e *apiError, id string) {
	w.Header().Set("X-Amzn-RequestId", id)
	var body []byte
	switch service {
	case "eks":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", e.code)
		m := map[string]string{"message": e.msg}
		for k, v := range e.fields {
			m[k] = v
		}
		body, _ = json.Marshal(m)
	case "ec2":
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		body, _ = xml.Marshal(ec2ErrorResponse{Code: e.code, Message: e.msg, ID: id})
		body = append([]byte(xml.Header), body...)
	default:
		w.Header().Set("Content-Type", "text/xml")
		typ := "Sender"
		if e.status >= 500 {
			typ = "Receiver"
		}
		body, _ = xml.Marshal(queryErrorResponse{Xmlns: namespace(service), Type: typ, Code: e.code, Message: e.msg, ID: id})
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	w.Write(body)
}

func namespace(service string) string {
	switch service {
	case "ec2":
		return "http://ec2.amazonaws.com/doc/2016-11-15/"
	case "sts":
		return "https://sts.amazonaws.com/doc/2011-06-15/"
	}
	return "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
}
