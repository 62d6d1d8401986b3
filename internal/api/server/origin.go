package server

import (
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
)

// The API serves no web pages, so no browser has a reason to call it unless its user
// allowed the page's origin (Config.AllowedOrigins). Without that, any web page could
// drive a node on the same machine: a form or a text/plain fetch is sent cross-origin
// without a CORS preflight, and a DNS-rebinding page is even same-origin. Browsers mark
// their requests (Origin, Sec-Fetch-Site, Referer); the CLI, curl and scripts do not.

// browserOrigin returns the origin a browser says a request comes from, and whether the
// request came from a web page at all. A page the user typed in or bookmarked
// (Sec-Fetch-Site: none) is the user's own request.
func browserOrigin(r *http.Request) (string, bool) {
	if o := r.Header.Get(echo.HeaderOrigin); o != "" {
		return o, true
	}
	site := r.Header.Get("Sec-Fetch-Site")
	if ref := r.Header.Get("Referer"); ref != "" && site != "none" {
		if u, err := url.Parse(ref); err == nil && u.Scheme != "" && u.Host != "" {
			return u.Scheme + "://" + u.Host, true
		}
		return ref, true
	}
	if site != "" && site != "none" {
		return "", true
	}
	return "", false
}

// guardOrigin refuses requests from web pages whose origin is not allowed (403, as
// kubo does), and answers the CORS preflights and headers of those that are.
func (s *Server) guardOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		origin, fromPage := browserOrigin(r)
		if !fromPage {
			return next(c)
		}
		if !s.originAllowed(origin) {
			who := origin
			if who == "" {
				who = "a web page"
			}
			return apiError(http.StatusForbidden, api.CodeForbiddenOrigin, "request from "+who+" refused: the API does not take requests from web pages "+
				"unless their origin is allowed (bacalhau serve --api-allow-origin ORIGIN)")
		}
		h := c.Response().Header()
		h.Add(echo.HeaderVary, echo.HeaderOrigin)
		if origin != "" {
			h.Set(echo.HeaderAccessControlAllowOrigin, origin)
			h.Set(echo.HeaderAccessControlExposeHeaders, api.StreamErrorTrailer)
		}
		if r.Method == http.MethodOptions {
			h.Set(echo.HeaderAccessControlAllowMethods, "GET, HEAD, POST")
			h.Set(echo.HeaderAccessControlAllowHeaders, "Content-Type")
			h.Set(echo.HeaderAccessControlMaxAge, "600")
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}

func (s *Server) originAllowed(origin string) bool {
	if origin == "" {
		return false
	}
	return slices.Contains(s.cfg.AllowedOrigins, "*") || slices.ContainsFunc(s.cfg.AllowedOrigins, func(a string) bool {
		return strings.EqualFold(strings.TrimSuffix(a, "/"), origin)
	})
}

// jsonBody refuses a body that is not JSON on a route that takes JSON (415): a form or
// text/plain body is what a page can send without a preflight. A POST with no body and no
// Content-Type (cancel) passes.
func jsonBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		ct := r.Header.Get(echo.HeaderContentType)
		if ct == "" && r.ContentLength == 0 {
			return next(c)
		}
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != echo.MIMEApplicationJSON {
			if ct == "" {
				ct = "none"
			}
			return apiError(http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType, "want a JSON body with Content-Type: application/json (got "+ct+")")
		}
		return next(c)
	}
}
