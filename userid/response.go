package userid

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// response is a parsed <response> envelope.
type response struct {
	Status  string
	Code    int // 0 when absent
	HasCode bool
	// Message is the text of <msg> (or <result><msg>), lines joined by
	// "; ".
	Message string
	// Result is the inner XML of <result>; nil when there is none.
	Result []byte
	// MsgLines is the inner XML of each <msg><line> (User-ID partial
	// failures nest a uid-response there).
	MsgLines [][]byte
}

type xmlResponse struct {
	XMLName xml.Name
	Status  string     `xml:"status,attr"`
	Code    string     `xml:"code,attr"`
	Msg     *xmlMsg    `xml:"msg"`
	Result  *xmlResult `xml:"result"`
}

type xmlMsg struct {
	Text  string    `xml:",chardata"`
	Lines []xmlLine `xml:"line"`
}

type xmlLine struct {
	Text  string `xml:",chardata"`
	Inner []byte `xml:",innerxml"`
}

type xmlResult struct {
	Inner []byte `xml:",innerxml"`
}

// parseResponse parses a PAN-OS <response> envelope. It never panics; any
// body that is not a <response> element is an ErrMalformed error.
func parseResponse(data []byte) (*response, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	var x xmlResponse
	if err := xml.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if x.XMLName.Local != "response" {
		return nil, fmt.Errorf("%w: root element is <%s>, want <response>", ErrMalformed, x.XMLName.Local)
	}
	r := &response{Status: strings.TrimSpace(x.Status)}
	if c := strings.TrimSpace(x.Code); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil {
			return nil, fmt.Errorf("%w: code %q is not a number", ErrMalformed, c)
		}
		r.Code, r.HasCode = n, true
	}
	if x.Result != nil {
		r.Result = x.Result.Inner
		if r.Result == nil {
			r.Result = []byte{}
		}
	}
	msg := x.Msg
	if msg == nil && x.Result != nil {
		// Keygen and some op errors put the message inside <result>.
		var inner struct {
			Msg *xmlMsg `xml:"msg"`
		}
		if err := unmarshalFragment(x.Result.Inner, &inner); err == nil {
			msg = inner.Msg
		}
	}
	if msg != nil {
		r.Message = msg.text()
		for _, l := range msg.Lines {
			r.MsgLines = append(r.MsgLines, l.Inner)
		}
	}
	return r, nil
}

// text joins a <msg>'s text and its lines' text.
func (m *xmlMsg) text() string {
	var parts []string
	if t := strings.TrimSpace(m.Text); t != "" {
		parts = append(parts, t)
	}
	for _, l := range m.Lines {
		if t := strings.TrimSpace(l.Text); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, "; ")
}

// failed applies pango's rule: status error or failed, or a code other
// than 0, 19 and 20. Any status other than success is a failure too.
func (r *response) failed() bool {
	if r.Status != "" && !strings.EqualFold(r.Status, "success") {
		return true
	}
	return r.HasCode && r.Code != 0 && r.Code != 19 && r.Code != 20
}

// err returns the APIError for a failed response, nil otherwise.
func (r *response) err() *APIError {
	if !r.failed() {
		return nil
	}
	return &APIError{Code: r.Code, Status: r.Status, Message: r.Message}
}

// unmarshalFragment unmarshals XML content that may hold several top-level
// elements (the inner XML of an element) into v.
func unmarshalFragment(inner []byte, v any) error {
	buf := make([]byte, 0, len(inner)+7)
	buf = append(buf, "<x>"...)
	buf = append(buf, inner...)
	buf = append(buf, "</x>"...)
	return xml.Unmarshal(buf, v)
}

// parseKey extracts <result><key> from a keygen response.
func parseKey(r *response) (string, error) {
	var x struct {
		Key string `xml:"key"`
	}
	if r.Result == nil {
		return "", fmt.Errorf("%w: keygen response has no <result>", ErrMalformed)
	}
	if err := unmarshalFragment(r.Result, &x); err != nil {
		return "", fmt.Errorf("%w: keygen result: %v", ErrMalformed, err)
	}
	k := strings.TrimSpace(x.Key)
	if k == "" {
		return "", fmt.Errorf("%w: keygen response has no key", ErrMalformed)
	}
	return k, nil
}
