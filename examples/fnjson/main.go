// Command fnjson is a JSON API as a function: POST /fn/<name>/sum with
// {"numbers":[1,2,3]} answers {"sum":6,"count":3}; a body that is not such an
// object gets 400 with a JSON error, another method 405, another path 404.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/bacalhau-project/bacalhau-wasm/sdk"
)

func main() { sdk.Serve(newMux()) }

func newMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /fn/{fn}/sum", sum)
	mux.HandleFunc("/fn/{fn}/sum", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "POST")
		reply(w, http.StatusMethodNotAllowed, errorBody{"use POST"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, errorBody{fmt.Sprintf("no route %s", r.URL.Path)})
	})
	return mux
}

type sumRequest struct {
	Numbers []float64 `json:"numbers"`
}

type sumResponse struct {
	Sum   float64 `json:"sum"`
	Count int     `json:"count"`
}

type errorBody struct {
	Error string `json:"error"`
}

const maxNumbers = 10000

func sum(w http.ResponseWriter, r *http.Request) {
	var req sumRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		reply(w, http.StatusBadRequest, errorBody{"want {\"numbers\":[...]}: " + err.Error()})
		return
	}
	if req.Numbers == nil || len(req.Numbers) > maxNumbers {
		reply(w, http.StatusUnprocessableEntity, errorBody{fmt.Sprintf("numbers: want 0 to %d of them", maxNumbers)})
		return
	}
	var s float64
	for _, x := range req.Numbers {
		s += x
	}
	reply(w, http.StatusOK, sumResponse{Sum: s, Count: len(req.Numbers)})
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
