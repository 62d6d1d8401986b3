package api

import (
	"context"
	"net/url"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Invocation is the record of one function request a node ran (GET
// /api/v1/functions/:name/logs).
type Invocation = job.Invocation

// FunctionLogs is the answer of GET /api/v1/functions/:name/logs: the records of the
// node asked and of its peers, oldest first, and the cursor to ask for the next ones.
type FunctionLogs struct {
	Records []Invocation `json:"records"`
	// Cursor is what to pass as after= to get only newer records: every node's last
	// sequence number.
	Cursor string `json:"cursor"`
	// Unreachable are the peers that gave no records in time, with why.
	Unreachable []NodeError `json:"unreachable,omitempty"`
}

// NodeError is a peer that could not answer, and why.
type NodeError struct {
	Node  string `json:"node"`
	Error string `json:"error"`
}

// DeployFunction deploys f (POST /api/v1/functions) and returns it as recorded.
func (c *Client) DeployFunction(ctx context.Context, f job.Function) (job.Function, error) {
	var out job.Function
	err := c.doJSON(ctx, "POST", "/api/v1/functions", f, &out)
	return out, err
}

// Functions lists the deployed functions.
func (c *Client) Functions(ctx context.Context) ([]job.Function, error) {
	var out []job.Function
	err := c.doJSON(ctx, "GET", "/api/v1/functions", nil, &out)
	return out, err
}

// Function describes one function.
func (c *Client) Function(ctx context.Context, name string) (job.Function, error) {
	var out job.Function
	err := c.doJSON(ctx, "GET", "/api/v1/functions/"+url.PathEscape(name), nil, &out)
	return out, err
}

// DeleteFunction deletes a function from the network.
func (c *Client) DeleteFunction(ctx context.Context, name string) (job.Function, error) {
	var out job.Function
	err := c.doJSON(ctx, "DELETE", "/api/v1/functions/"+url.PathEscape(name), nil, &out)
	return out, err
}

// FunctionLogs returns the records of name's invocations on every node the node asked
// can reach, after cursor (a FunctionLogs.Cursor, or "" for the latest records).
func (c *Client) FunctionLogs(ctx context.Context, name, cursor string) (FunctionLogs, error) {
	var out FunctionLogs
	err := c.doJSON(ctx, "GET", "/api/v1/functions/"+url.PathEscape(name)+"/logs?after="+url.QueryEscape(cursor), nil, &out)
	return out, err
}
