// Command fndata serves a CID-mounted dataset: GET /fn/<name>/<file> answers
// the size and the number of lines of /data/<file>, read for each request.
//
//	bacalhau fn deploy data build/examples/fndata.wasm -i <dataset CID>:/data
//	curl http://127.0.0.1:8080/fn/data/words.txt
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/bacalhau-project/bacalhau-wasm/sdk"
)

func main() { sdk.Serve(http.HandlerFunc(stat)) }

type fileStat struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
	Lines int    `json:"lines"`
}

func stat(w http.ResponseWriter, r *http.Request) {
	// The path after /fn/<name>/ names the file.
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/fn/"), "/", 2)
	if len(parts) < 2 || parts[1] == "" {
		http.Error(w, "name a file: /fn/<name>/<file>", http.StatusBadRequest)
		return
	}
	name := path.Clean(parts[1])
	if !fs.ValidPath(name) {
		http.Error(w, "bad file name", http.StatusBadRequest)
		return
	}
	f, err := os.DirFS("/data").Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		http.Error(w, "no such file: "+name, http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	st := fileStat{File: name}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		st.Lines++
		st.Bytes += int64(len(sc.Bytes())) + 1
	}
	if fi, err := f.Stat(); err == nil {
		st.Bytes = fi.Size()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}
