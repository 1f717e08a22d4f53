package panossim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// result is what one request was answered with, for stats and the log.
type result struct {
	status     string // success or error
	code       int    // PAN-OS code, 0 when the answer carries none
	httpStatus int
	dropped    bool // no answer: the connection is to be closed
	// send, when set, writes the answer; ServeHTTP calls it after the
	// request is counted and logged, so a client that has read the answer
	// sees it in Stats and Requests.
	send func()
}

const xmlContentType = "application/xml; charset=UTF-8"

func writeRaw(w http.ResponseWriter, httpStatus int, status string, code int, body, contentType string) result {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(httpStatus)
	_, _ = w.Write([]byte(body))
	return result{status: status, code: code, httpStatus: httpStatus}
}

func writeXML(w http.ResponseWriter, httpStatus int, status string, code int, body string) result {
	return writeRaw(w, httpStatus, status, code, body, xmlContentType)
}

// writeError answers <response status="error" code="N"><msg><line>TEXT</line></msg></response>.
func writeError(w http.ResponseWriter, httpStatus, code int, text string) result {
	var b strings.Builder
	b.WriteString(`<response status="error"`)
	if code != 0 {
		b.WriteString(` code="` + strconv.Itoa(code) + `"`)
	}
	b.WriteString(`><msg><line>`)
	b.WriteString(escape(text))
	b.WriteString(`</line></msg></response>`)
	return writeXML(w, httpStatus, "error", code, b.String())
}

// writeErrorCDATA answers an error whose line is CDATA, as PAN-OS does for
// op and config diagnostics.
func writeErrorCDATA(w http.ResponseWriter, code int, text string) result {
	text = strings.ReplaceAll(text, "]]>", "]]]]><![CDATA[>")
	body := `<response status="error" code="` + strconv.Itoa(code) + `"><msg><line><![CDATA[` + text + `]]></line></msg></response>`
	return writeXML(w, http.StatusOK, "error", code, body)
}

const invalidCredentialBody = `<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>`

// writeInvalidCredential is the answer of PAN-OS to a wrong or missing key
// and to keygen with bad credentials, spacing and quotes included. Devices
// send it with the reason phrase "Invalid Credential" (not "Forbidden"),
// which net/http cannot set, so on HTTP/1.x the answer is written on the
// hijacked connection, which is then closed.
func writeInvalidCredential(w http.ResponseWriter) result {
	if hj, ok := w.(http.Hijacker); ok {
		return result{status: "error", code: 403, httpStatus: http.StatusForbidden, send: func() {
			conn, rw, err := hj.Hijack()
			if err != nil {
				writeXML(w, http.StatusForbidden, "error", 403, invalidCredentialBody)
				return
			}
			defer conn.Close()
			fmt.Fprintf(rw, "HTTP/1.1 403 Invalid Credential\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
				xmlContentType, len(invalidCredentialBody), invalidCredentialBody)
			_ = rw.Flush()
		}}
	}
	return writeXML(w, http.StatusForbidden, "error", 403, invalidCredentialBody)
}

// writeBadRequest answers a request the web front end rejects before any
// command runs (unknown type or action, unreadable or oversize body), in the
// front end's shape, as for 403.
func writeBadRequest(w http.ResponseWriter, httpStatus int, text string) result {
	return writeXML(w, httpStatus, "error", 400,
		`<response status = 'error' code = '400'><result><msg>`+escape(text)+`</msg></result></response>`)
}

// codeText is the message PAN-OS gives with each error code.
var codeText = map[int]string{
	1:   "Unknown command",
	2:   "Internal error",
	3:   "Internal error",
	4:   "Internal error",
	5:   "Internal error",
	6:   "Bad Xpath",
	7:   "Object not present",
	8:   "Object not unique",
	10:  "Reference count not zero",
	11:  "Internal error",
	12:  "Invalid object",
	13:  "Object not found",
	14:  "Operation not possible",
	15:  "Operation denied",
	16:  "Unauthorized",
	17:  "Invalid command",
	18:  "Malformed command",
	21:  "Internal error",
	22:  "Session timed out",
	400: "Bad request",
	403: "Invalid Credential",
}

// writeInjected answers an injected error code.
func writeInjected(w http.ResponseWriter, code int) result {
	switch code {
	case 403:
		return writeInvalidCredential(w)
	case 400:
		return writeBadRequest(w, http.StatusBadRequest, "Bad request")
	}
	text, ok := codeText[code]
	if !ok {
		text = "Error " + strconv.Itoa(code)
	}
	return writeError(w, http.StatusOK, code, text)
}

// escape escapes character data as PAN-OS prints it: only &, < and >
// (quotes stay as they are in text).
func escape(s string) string {
	return textEscaper.Replace(s)
}

// escapeAttr escapes an attribute value written between double quotes.
func escapeAttr(s string) string {
	return attrEscaper.Replace(s)
}

var (
	textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "\n", "&#xA;", "\r", "&#xD;", "\t", "&#x9;")
)
