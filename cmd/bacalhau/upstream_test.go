package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api/upstream/upstreamtest"
)

const recordedUpstream = "../../internal/api/upstream/testdata/"

// v1Call sends one request to upstream's v1 API of the node, as upstream's CLI does.
func (n *testNode) v1Call(method, path, body string) (int, []byte) {
	n.t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(n.port)+path, strings.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func v1WasmJob(module string, args ...string) string {
	params, _ := json.Marshal(args)
	return fmt.Sprintf(`{"Job": {"Name": "hello", "Type": "batch", "Count": 1, "Tasks": [{"Name": "main",
  "Engine": {"Type": "wasm", "Params": {"EntryModule": {"Source": {"Type": "ipfs", "Params": {"CID": %q}}}, "Parameters": %s}},
  "Publisher": {"Type": "ipfs"}, "Timeouts": {"ExecutionTimeout": 120}}]}}`, module, params)
}

var v1JobOptional = []string{"Priority", "Constraints", "Meta", "Labels", "Version", "Tasks[].Env", "Tasks[].Meta",
	"Tasks[].InputSources", "Tasks[].ResultPaths", "Tasks[].Resources", "Tasks[].Network", "Tasks[].Timeouts", "Tasks[].Publisher.Params"}

func withPrefix(p string, fields []string) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = p + f
	}
	return out
}

// TestAPIUpstreamV1: upstream's v1 orchestrator routes on a real node: a WASM job
// submitted there runs, and is listed, described, its executions, history and results
// read (the result CID `wasm run` gives), another job is stopped, an unknown one is a
// 404; every answer has the field names of upstream's recorded answers.
func TestAPIUpstreamV1(t *testing.T) {
	n := startNode(t)
	hello := strings.TrimSpace(n.ok("data", "add", guestPath["hello"]))
	want := field(n.ok("wasm", "run", guestPath["hello"]), "Result CID")

	code, body := n.v1Call("PUT", "/api/v1/orchestrator/jobs", v1WasmJob(hello))
	if code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recordedUpstream+"put_job_response.json", body)
	var put struct{ JobID string }
	if err := json.Unmarshal(body, &put); err != nil || !strings.HasPrefix(put.JobID, "j-") {
		t.Fatalf("PUT answer: %s", body)
	}

	var got struct {
		Job struct {
			ID    string
			State struct{ StateType, Message string }
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body = n.v1Call("GET", "/api/v1/orchestrator/jobs/"+put.JobID, "")
		if code != 200 || json.Unmarshal(body, &got) != nil {
			t.Fatalf("GET job: %d %s", code, body)
		}
		if got.Job.State.StateType == "Completed" {
			break
		}
		if got.Job.State.StateType == "Failed" || time.Now().After(deadline) {
			t.Fatalf("job did not complete: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	upstreamtest.SameShape(t, recordedUpstream+"get_job_response.json", body, withPrefix("Job.", v1JobOptional)...)

	code, body = n.v1Call("GET", "/api/v1/orchestrator/jobs?limit=10&order_by=created_at&reverse=true", "")
	if code != 200 || !strings.Contains(string(body), `"ID":"`+put.JobID+`"`) {
		t.Errorf("list: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recordedUpstream+"list_jobs_response.json", body, withPrefix("Items[].", v1JobOptional)...)

	code, body = n.v1Call("GET", "/api/v1/orchestrator/jobs/"+put.JobID+"/executions", "")
	if code != 200 || !strings.Contains(string(body), `"ComputeState":{"StateType":9,`) || !strings.Contains(string(body), `"stdout":"Hello, world!\n"`) ||
		!strings.Contains(string(body), `"exitCode":0`) {
		t.Errorf("executions: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recordedUpstream+"executions_response.json", body)

	code, body = n.v1Call("GET", "/api/v1/orchestrator/jobs/"+put.JobID+"/history", "")
	if code != 200 || !strings.Contains(string(body), `"New":"Completed"`) {
		t.Errorf("history: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recordedUpstream+"history_response.json", body, "Items[].NodeID", "Items[].ExecutionID", "Items[].ExecutionState", "Items[].Event.Details")

	code, body = n.v1Call("GET", "/api/v1/orchestrator/jobs/"+put.JobID+"/results", "")
	var results struct {
		Items []struct {
			Type   string
			Params struct{ CID string }
		}
	}
	if code != 200 || json.Unmarshal(body, &results) != nil || len(results.Items) != 1 || results.Items[0].Type != "ipfs" || results.Items[0].Params.CID != want {
		t.Errorf("results: %d %s; want the CID of wasm run, %s", code, body, want)
	}
	upstreamtest.SameShape(t, recordedUpstream+"results_response.json", body)

	// our own CLI sees the job submitted through upstream's route
	if out := n.ok("describe", put.JobID); !strings.Contains(out, want) {
		t.Errorf("describe of the v1 job does not name its result %s:\n%s", want, out)
	}

	// stop: a job that sleeps, stopped through DELETE
	faulty := strings.TrimSpace(n.ok("data", "add", guestPath["faulty"]))
	code, body = n.v1Call("PUT", "/api/v1/orchestrator/jobs", v1WasmJob(faulty, "sleep", "60s"))
	if code != 200 || json.Unmarshal(body, &put) != nil {
		t.Fatalf("PUT: %d %s", code, body)
	}
	code, body = n.v1Call("DELETE", "/api/v1/orchestrator/jobs/"+put.JobID, "")
	if code != 200 {
		t.Errorf("stop: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recordedUpstream+"stop_job_response.json", body)
	if code, body = n.v1Call("GET", "/api/v1/orchestrator/jobs/"+put.JobID, ""); !strings.Contains(string(body), `"StateType":"Stopped"`) {
		t.Errorf("stopped job: %d %s", code, body)
	}

	code, body = n.v1Call("GET", "/api/v1/orchestrator/jobs/j-00000000", "")
	if code != 404 || !strings.Contains(string(body), `"Code":"NotFound"`) {
		t.Errorf("unknown job: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recordedUpstream+"error_response.json", body)
	code, body = n.v1Call("PUT", "/api/v1/orchestrator/jobs", `{"Job": {"Type": "batch", "Tasks": [{"Engine": {"Type": "wasm", "Params": {"EntryModul": "x"}}}]}}`)
	if code != 400 || !strings.Contains(string(body), "EntryModul: unknown field") {
		t.Errorf("typo in a v1 job: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recordedUpstream+"error_response.json", body)

	for _, c := range []struct{ path, file string }{
		{"/api/v1/orchestrator/nodes", "list_nodes_response.json"},
		{"/api/v1/agent/alive", "alive_response.json"},
		{"/api/v1/agent/version", "version_response.json"},
	} {
		code, body = n.v1Call("GET", c.path, "")
		if code != 200 {
			t.Errorf("%s: %d %s", c.path, code, body)
		}
		upstreamtest.SameShape(t, recordedUpstream+c.file, body)
	}
}
