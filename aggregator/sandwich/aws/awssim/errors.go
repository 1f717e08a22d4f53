package awssim

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
)

// apiError is an error answer before it is shaped for its protocol.
type apiError struct {
	status    int
	code, msg string
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
func writeError(w http.ResponseWriter, service string, e *apiError) {
	id := requestID()
	w.Header().Set("X-Amzn-RequestId", id)
	var body []byte
	switch service {
	case "eks":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", e.code)
		body, _ = json.Marshal(map[string]string{"message": e.msg})
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
