// Package api holds what crosses a node's HTTP API: the JSON types of requests and
// responses, and a Client for them. It imports nothing heavy (the job types and the
// standard library), so the CLI that uses it starts quickly; the server is in
// internal/api/server.
//
//	c := api.NewClient("http://127.0.0.1:1234")
//	j, err := c.Submit(ctx, spec)
//	j, err = c.Watch(ctx, j.ID, func(*job.Job) bool { return true })
package api

import (
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// SubmitRequest is the body of POST /api/v1/jobs.
type SubmitRequest struct {
	Spec job.Spec `json:"spec"`
}

// LogChunk is one line of the NDJSON stream of GET /api/v1/jobs/:id/logs.
type LogChunk struct {
	Stream string `json:"stream"` // "stdout" or "stderr"
	Data   []byte `json:"data"`
}

// Sort keys of ListQuery.SortBy.
const (
	SortCreated = "created_at"
	SortID      = "id"
)

// MaxListLimit bounds one page of GET /api/v1/jobs.
const MaxListLimit = 1000

// ListQuery selects a page of jobs (the query string of GET /api/v1/jobs). The zero value
// gives the 10 oldest jobs, oldest first, as upstream Bacalhau's `list` does without
// --reverse.
type ListQuery struct {
	IDPrefix string      // keep jobs whose ID starts with this ("j-" optional)
	States   []job.State // keep jobs in any of these states; empty keeps all
	SortBy   string      // SortCreated (default) or SortID
	Reverse  bool
	Offset   int
	Limit    int    // 0 means 10, like upstream; at most MaxListLimit
	Labels   string // a label selector the jobs' labels must meet (job.ParseSelector)
}

// ListPage is the body of GET /api/v1/jobs.
type ListPage struct {
	Jobs  []*job.Job `json:"jobs"`
	Total int        `json:"total"` // jobs matching the query, on all pages
}

// AddResponse is the body of POST /api/v1/data.
type AddResponse struct {
	CID  cidtext.CID `json:"cid"` // as text, checked where it is decoded
	Size uint64      `json:"size"`
}

// CARResponse is the body of POST /api/v1/data/car.
type CARResponse struct {
	Roots []string `json:"roots"`
}

// Body conventions of POST /api/v1/data. A single file may be the raw body
// (application/octet-stream). Otherwise, as kubo's /api/v0/add: a multipart/form-data
// body whose parts carry URL-escaped relative paths as filenames; a part with
// Content-Type DirectoryType is a directory, one with SymlinkType a symbolic link whose
// body is its target (kubo's conventions). One file or symlink part adds that entry;
// otherwise every path must share one top directory, whose CID is returned. Names
// starting with '.' inside the directory are skipped unless the query says hidden=true
// (kubo's -H).
const (
	DirectoryType = "application/x-directory"
	SymlinkType   = "application/symlink"
)

// StreamErrorTrailer is the HTTP trailer a streamed download sets when it failed part way.
const StreamErrorTrailer = "X-Stream-Error"

// Error is the body of every error response, {"code": "not_found", "error": "..."}, and
// the error the Client returns for one. Code is stable and meant for programs: branch
// on it (errors.Is(err, api.ErrNotFound)), never on Message, which is for people and may
// change. Nodes before codes send only "error"; the Client then takes the code from the
// status (CodeOfStatus), as it does for a HEAD, which has no body.
type Error struct {
	Status  int    `json:"-"`     // the HTTP status; 0 in the sentinels below
	Code    string `json:"code"`  // one of the Code constants; a newer node may send others
	Message string `json:"error"` // what went wrong, for people
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is the sentinel of e's code: errors.Is(err, api.ErrNotFound)
// holds for every error response whose code is CodeNotFound.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == 0 && t.Code == e.Code
}

// Codes of error responses, with the status each comes with.
const (
	CodeInvalidRequest       = "invalid_request"        // 400: a query parameter, path parameter or upload framing is wrong
	CodeInvalidJSON          = "invalid_json"           // 400: the body is not one JSON object of the request's shape
	CodeInvalidSpec          = "invalid_spec"           // 400: the job spec does not validate
	CodeInvalidID            = "invalid_id"             // 400: not a job ID or ID prefix
	CodeAmbiguousID          = "ambiguous_id"           // 400: the job ID prefix matches several jobs
	CodeInvalidData          = "invalid_data"           // 400: uploaded blocks, DAG, CAR or paths are malformed or clash
	CodeForbiddenOrigin      = "forbidden_origin"       // 403: a web page whose origin the node does not allow
	CodeNotFound             = "not_found"              // 404: no such job, or no such content
	CodeUnknownRoute         = "unknown_route"          // 404: no such API path (an older node?)
	CodeMethodNotAllowed     = "method_not_allowed"     // 405: the path exists, not with this method, or not on this node
	CodeConflict             = "conflict"               // 409: the job's state does not allow it
	CodePayloadTooLarge      = "payload_too_large"      // 413: the JSON body is larger than the node takes
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: a route that takes JSON got another Content-Type
	CodeTooManyRequests      = "too_many_requests"      // 429: a bounded resource (log streams) is all in use; try again later
	CodeCanceled             = "canceled"               // 499: the client went away
	CodeInternal             = "internal"               // 500: anything else; the message says what
	CodeRepoFull             = "repo_full"              // 507: the repository is at its size limit, even after a GC
	CodeDiskFull             = "disk_full"              // 507: the disk holding the repository is full
)

// Sentinels of the codes, for errors.Is.
var (
	ErrInvalidRequest       = &Error{Code: CodeInvalidRequest, Message: "api: invalid request"}
	ErrInvalidJSON          = &Error{Code: CodeInvalidJSON, Message: "api: invalid JSON body"}
	ErrInvalidSpec          = &Error{Code: CodeInvalidSpec, Message: "api: invalid job spec"}
	ErrInvalidID            = &Error{Code: CodeInvalidID, Message: "api: invalid job ID"}
	ErrAmbiguousID          = &Error{Code: CodeAmbiguousID, Message: "api: ambiguous job ID prefix"}
	ErrInvalidData          = &Error{Code: CodeInvalidData, Message: "api: invalid data"}
	ErrForbiddenOrigin      = &Error{Code: CodeForbiddenOrigin, Message: "api: origin not allowed"}
	ErrNotFound             = &Error{Code: CodeNotFound, Message: "api: not found"}
	ErrUnknownRoute         = &Error{Code: CodeUnknownRoute, Message: "api: unknown route"}
	ErrMethodNotAllowed     = &Error{Code: CodeMethodNotAllowed, Message: "api: method not allowed"}
	ErrConflict             = &Error{Code: CodeConflict, Message: "api: conflict"}
	ErrPayloadTooLarge      = &Error{Code: CodePayloadTooLarge, Message: "api: payload too large"}
	ErrUnsupportedMediaType = &Error{Code: CodeUnsupportedMediaType, Message: "api: unsupported media type"}
	ErrTooManyRequests      = &Error{Code: CodeTooManyRequests, Message: "api: too many requests"}
	ErrCanceled             = &Error{Code: CodeCanceled, Message: "api: canceled"}
	ErrInternal             = &Error{Code: CodeInternal, Message: "api: internal error"}
	ErrRepoFull             = &Error{Code: CodeRepoFull, Message: "api: repository full"}
	ErrDiskFull             = &Error{Code: CodeDiskFull, Message: "api: disk full"}
)

// CodeOfStatus is the code an error response of status has when its body names none
// (a node before codes, a HEAD, a proxy): the most general code of that status.
func CodeOfStatus(status int) string {
	switch status {
	case 400:
		return CodeInvalidRequest
	case 403:
		return CodeForbiddenOrigin
	case 404:
		return CodeNotFound
	case 405:
		return CodeMethodNotAllowed
	case 409:
		return CodeConflict
	case 413:
		return CodePayloadTooLarge
	case 415:
		return CodeUnsupportedMediaType
	case 429:
		return CodeTooManyRequests
	case 499:
		return CodeCanceled
	case 507:
		return CodeRepoFull
	default:
		return CodeInternal
	}
}

// NodeInfo is the body of GET /api/v1/node: what the node is and how busy it is.
type NodeInfo struct {
	ID          string            `json:"id"`              // libp2p peer ID
	Addrs       []string          `json:"addrs,omitempty"` // listen multiaddrs with /p2p/<id>
	Labels      map[string]string `json:"labels,omitempty"`
	Version     string            `json:"version"`
	Engines     []job.Engine      `json:"engines"`
	Concurrency int               `json:"concurrency"`
	Queued      int               `json:"queued"`
	Running     int               `json:"running"`
	Peers       int               `json:"peers"`      // nodes seen within the grace period
	Fetching    int               `json:"fetching"`   // executions fetching their module and inputs
	Memory      uint64            `json:"memory"`     // bytes offered to jobs in all
	MemoryFree  uint64            `json:"memoryFree"` // bytes no running execution holds
}

// Capacity is what a node offers to run.
type Capacity struct {
	Slots      int    `json:"slots"`
	Memory     uint64 `json:"memory"`               // bytes offered to jobs in all
	MemoryFree uint64 `json:"memoryFree,omitempty"` // bytes no running execution holds
}

// PeerStatus is one node of GET /api/v1/nodes, as `node list` shows it.
type PeerStatus struct {
	ID       string            `json:"id"`
	Addrs    []string          `json:"addrs"`
	Engines  []job.Engine      `json:"engines"`
	Capacity Capacity          `json:"capacity"`
	Labels   map[string]string `json:"labels,omitempty"`
	LastSeen time.Time         `json:"lastSeen"`
	Self     bool              `json:"self,omitempty"`
	Live     bool              `json:"live"` // seen within the grace period
}

// RepoStat is the body of GET /api/v1/repo/stat: what the node's blockstore holds.
type RepoStat struct {
	DiskBytes     int64 `json:"diskBytes"`     // everything in the store directory
	PebbleBytes   int64 `json:"pebbleBytes"`   // the index and small blocks
	PackBytes     int64 `json:"packBytes"`     // pack files (large blocks)
	PackLiveBytes int64 `json:"packLiveBytes"` // pack bytes blocks are read from
	PackDeadBytes int64 `json:"packDeadBytes"` // pack bytes nothing points at: a GC reclaims them
	Blocks        int64 `json:"blocks"`
	PackedBlocks  int64 `json:"packedBlocks"`
	Pins          int64 `json:"pins"`
	MaxSize       int64 `json:"maxSize"` // 0: no limit
}

// GCResult is the body of POST /api/v1/repo/gc: what a garbage collection freed.
type GCResult struct {
	Marked         int          `json:"marked"`      // blocks kept: pins and running jobs reach them
	PinsExpired    int          `json:"pinsExpired"` // results past their retention, unpinned
	BlocksFreed    int          `json:"blocksFreed"`
	BytesFreed     int64        `json:"bytesFreed"`
	PacksCompacted int          `json:"packsCompacted"`
	PackBytesFreed int64        `json:"packBytesFreed"`
	DiskBefore     int64        `json:"diskBefore"`
	DiskAfter      int64        `json:"diskAfter"`
	Deferred       bool         `json:"deferred,omitempty"` // the sweep was put off: too many blocks being written
	Duration       job.Duration `json:"duration"`
}

// LsResponse is the answer of GET /api/v1/data/:cid/ls: a directory's entries, sorted
// by name.
type LsResponse struct {
	Entries []LsEntry `json:"entries"`
}

// LsEntry is one entry of a listing. Type is "file", "directory" or "symlink"; Size is
// a file's bytes.
type LsEntry struct {
	Name string `json:"name"`
	CID  string `json:"cid"`
	Type string `json:"type"`
	Size uint64 `json:"size"`
}
