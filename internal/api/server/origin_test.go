package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWebPagesCannotDriveTheNode: what a foreign page can send without a CORS preflight
// (forms, text/plain, multipart) and what a DNS-rebinding page sends same-origin are
// refused; the CLI's requests and allowed origins pass.
func TestWebPagesCannotDriveTheNode(t *testing.T) {
	const spec = `{"spec":{"engine":"wasm","wasm":{"module":"bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"}}}`
	srv := New(Config{AllowedOrigins: []string{"https://ui.example"}}, fakeJobs{}, nil, nil)
	tests := []struct {
		name, method, path, ctype, body string
		headers                         map[string]string
		code                            int
		want                            string
	}{
		{"text/plain from a foreign page", "POST", "/api/v1/jobs", "text/plain", spec, map[string]string{"Origin": "http://evil.example"}, 403, "refused"},
		{"form from a foreign page", "POST", "/api/v1/jobs", "application/x-www-form-urlencoded", "a=b", map[string]string{"Origin": "http://evil.example"}, 403, "--api-allow-origin"},
		{"multipart upload from a foreign page", "POST", "/api/v1/data", "multipart/form-data; boundary=x", "--x--", map[string]string{"Origin": "null"}, 403, "refused"},
		{"cancel from a foreign page", "POST", "/api/v1/jobs/j-1/cancel", "", "", map[string]string{"Origin": "http://evil.example"}, 403, "refused"},
		{"a page without Origin, by Referer", "POST", "/api/v1/jobs/j-1/cancel", "", "", map[string]string{"Referer": "http://evil.example/x"}, 403, "evil.example"},
		{"DNS rebinding, same-origin GET", "GET", "/api/v1/jobs", "", "", map[string]string{"Sec-Fetch-Site": "same-origin"}, 403, "web page"},
		{"text/plain without Origin", "POST", "/api/v1/jobs", "text/plain", spec, nil, 415, "application/json"},
		{"form without Origin", "POST", "/api/v1/jobs", "application/x-www-form-urlencoded", "a=b", nil, 415, "application/json"},
		{"cancel with a text body", "POST", "/api/v1/jobs/j-1/cancel", "text/plain", "x", nil, 415, "application/json"},
		{"the CLI's submit", "POST", "/api/v1/jobs", "application/json; charset=utf-8", spec, nil, 201, ""},
		{"the CLI's cancel", "POST", "/api/v1/jobs/j-1/cancel", "", "", nil, 404, ""},
		{"a typed URL", "GET", "/api/v1/jobs", "", "", map[string]string{"Sec-Fetch-Site": "none"}, 200, ""},
		{"an allowed origin", "POST", "/api/v1/jobs", "application/json", spec, map[string]string{"Origin": "https://ui.example"}, 201, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("%s: %d %s; want %d with %q", tt.name, rec.Code, rec.Body, tt.code, tt.want)
		}
	}
	// The allowed origin gets CORS headers and its preflight is answered.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodOptions, "/api/v1/jobs", nil)
	req.Header.Set("Origin", "https://ui.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "https://ui.example" {
		t.Fatalf("preflight of an allowed origin: %d %v", rec.Code, rec.Header())
	}
}
