package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Invocation is the record of one function request a node ran (GET
// /api/v1/functions/:name/logs).
type Invocation struct {
	Seq       uint64        `json:"seq"`
	Time      time.Time     `json:"time"`
	RequestID string        `json:"requestId"`
	Method    string        `json:"method"`
	Path      string        `json:"path"`
	Status    int           `json:"status"`
	Duration  time.Duration `json:"duration"`
	Module    string        `json:"module"`
	Cold      bool          `json:"cold,omitempty"` // the module's first run in this process, or a new pooled instance
	Error     string        `json:"error,omitempty"`
}

// DeployFunction deploys f (POST /api/v1/functions) and returns it as recorded.
func (c *Client) DeployFunction(ctx context.Context, f job.Function) (job.Function, error) {
	var out job.Function
	err := c.doJSON(ctx, http.MethodPost, "/api/v1/functions", f, &out)
	return out, err
}

// Functions lists the deployed functions.
func (c *Client) Functions(ctx context.Context) ([]job.Function, error) {
	var out []job.Function
	err := c.doJSON(ctx, http.MethodGet, "/api/v1/functions", nil, &out)
	return out, err
}

// Function describes one function.
func (c *Client) Function(ctx context.Context, name string) (job.Function, error) {
	var out job.Function
	err := c.doJSON(ctx, http.MethodGet, "/api/v1/functions/"+url.PathEscape(name), nil, &out)
	return out, err
}

// DeleteFunction deletes a function from the network.
func (c *Client) DeleteFunction(ctx context.Context, name string) (job.Function, error) {
	var out job.Function
	err := c.doJSON(ctx, http.MethodDelete, "/api/v1/functions/"+url.PathEscape(name), nil, &out)
	return out, err
}

// FunctionLogs returns the node's records of name's invocations after sequence number
// after.
func (c *Client) FunctionLogs(ctx context.Context, name string, after uint64) ([]Invocation, error) {
	var out []Invocation
	err := c.doJSON(ctx, http.MethodGet, "/api/v1/functions/"+url.PathEscape(name)+"/logs?after="+strconv.FormatUint(after, 10), nil, &out)
	return out, err
}
