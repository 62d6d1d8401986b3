package functions

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// Request is one HTTP request as a function sees it.
type Request struct {
	Method     string
	PathInfo   string // the path after SCRIPT_NAME, "" or starting with '/'
	Query      string
	Header     http.Header
	Host       string
	RemoteAddr string
	ServerPort string
	Body       []byte
	Name       string // the function's name: SCRIPT_NAME is /fn/<name>...
	// Routed says the request came by one of the function's routes, ScriptName:
	// SCRIPT_NAME is then ScriptName ("" for the root route "/").
	Routed     bool
	ScriptName string
	RequestID  string

	stderr *tailBuffer // what the guest writes to stderr for this request, for its record
}

// scriptName is r's SCRIPT_NAME.
func (r *Request) scriptName() string {
	if r.Routed {
		return r.ScriptName
	}
	return "/fn/" + r.Name
}

// Limits of the CGI mapping.
const (
	maxHeaderBytes = 64 << 10 // of a CGI response's header block
	maxHeaders     = 100
)

// CGIEnv maps r to RFC 3875 meta-variables (plus HTTP_* for its headers, and
// BACALHAU_REQUEST_ID), the environment of a fresh instance or one frame of a pooled
// one. The function's own environment comes first; the request's variables override it.
func CGIEnv(r *Request, base map[string]string) map[string]string {
	env := make(map[string]string, len(base)+len(r.Header)+16)
	for k, v := range base {
		env[k] = v
	}
	for k, vs := range r.Header {
		name := "HTTP_" + strings.ToUpper(strings.ReplaceAll(k, "-", "_"))
		if !validEnvName(name) {
			continue // a header name that cannot be a variable: RFC 3875 4.1.18 lets it go
		}
		switch name {
		case "HTTP_PROXY": // httpoxy: a guest's HTTP client must not take a proxy from a request
			continue
		case "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH":
			continue // given as CONTENT_TYPE and CONTENT_LENGTH
		}
		env[name] = sanitize(strings.Join(vs, ", "))
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, r.ServerPort
	}
	raddr, rport, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		raddr, rport = r.RemoteAddr, ""
	}
	set := func(k, v string) { env[k] = sanitize(v) }
	set("GATEWAY_INTERFACE", "CGI/1.1")
	set("SERVER_PROTOCOL", "HTTP/1.1")
	set("SERVER_SOFTWARE", "bacalhau")
	set("REQUEST_METHOD", r.Method)
	set("SCRIPT_NAME", r.scriptName())
	set("PATH_INFO", r.PathInfo)
	set("QUERY_STRING", r.Query)
	uri := r.scriptName() + r.PathInfo
	if r.Query != "" {
		uri += "?" + r.Query
	}
	set("REQUEST_URI", uri)
	set("SERVER_NAME", host)
	set("SERVER_PORT", port)
	set("REMOTE_ADDR", raddr)
	set("REMOTE_HOST", raddr)
	set("REMOTE_PORT", rport)
	set("CONTENT_LENGTH", strconv.Itoa(len(r.Body)))
	if ct := r.Header.Get("Content-Type"); ct != "" {
		set("CONTENT_TYPE", ct)
	} else {
		delete(env, "CONTENT_TYPE")
	}
	set("BACALHAU_REQUEST_ID", r.RequestID)
	return env
}

func validEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// sanitize drops NUL bytes, which no environment variable can hold.
func sanitize(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// Response is a function's answer, parsed from its CGI output.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrBadResponse is wrapped by ParseResponse's errors: the guest wrote something that
// is not a CGI response. The trigger answers 502.
var ErrBadResponse = errors.New("functions: malformed CGI response")

// headers a guest may not set: the server frames the response itself.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true, "Trailer": true, "Te": true, "Proxy-Connection": true,
}

// ParseResponse parses a CGI response (RFC 3875 section 6): header lines ending in
// LF or CRLF, a blank line, the body. "Status: NNN reason" sets the status (200 by
// default; 302 when there is a Location and no Status). Any byte that could split a
// response (a bare CR, NUL, a control character) or a line that is not a well-formed
// header is an error wrapping ErrBadResponse, never passed on.
func ParseResponse(out []byte) (*Response, error) {
	resp := &Response{Status: http.StatusOK, Header: http.Header{}}
	rest := out
	size, n := 0, 0
	hasStatus := false
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(out) == 0 {
				return nil, fmt.Errorf("%w: the function wrote nothing", ErrBadResponse)
			}
			return nil, fmt.Errorf("%w: no blank line ends the headers", ErrBadResponse)
		}
		line := rest[:i]
		rest = rest[i+1:]
		size += i + 1
		if size > maxHeaderBytes {
			return nil, fmt.Errorf("%w: headers longer than %d bytes", ErrBadResponse, maxHeaderBytes)
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			break
		}
		if n++; n > maxHeaders {
			return nil, fmt.Errorf("%w: more than %d headers", ErrBadResponse, maxHeaders)
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return nil, fmt.Errorf("%w: header line %q has no ':'", ErrBadResponse, clip(line))
		}
		if !validToken(name) {
			return nil, fmt.Errorf("%w: header name %q is not a token", ErrBadResponse, clip(name))
		}
		v := string(bytes.Trim(value, " \t"))
		for j := 0; j < len(v); j++ {
			if c := v[j]; c < 0x20 && c != '\t' || c == 0x7f {
				return nil, fmt.Errorf("%w: header %s holds control byte 0x%02x", ErrBadResponse, clip(name), c)
			}
		}
		key := textproto.CanonicalMIMEHeaderKey(string(name))
		if key == "Status" {
			if hasStatus {
				return nil, fmt.Errorf("%w: two Status headers", ErrBadResponse)
			}
			code, err := parseStatus(v)
			if err != nil {
				return nil, err
			}
			resp.Status, hasStatus = code, true
			continue
		}
		if hopHeaders[key] {
			continue
		}
		resp.Header.Add(key, v)
	}
	if !hasStatus && resp.Header.Get("Location") != "" {
		resp.Status = http.StatusFound
	}
	resp.Body = rest
	return resp, nil
}

func parseStatus(v string) (int, error) {
	code, _, _ := strings.Cut(v, " ")
	c, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || c < 100 || c > 599 {
		return 0, fmt.Errorf("%w: Status %q: want a code from 100 to 599", ErrBadResponse, clipString(v))
	}
	return c, nil
}

func validToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func clip(b []byte) string { return clipString(string(b)) }

func clipString(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
