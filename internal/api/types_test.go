package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

// TestAddResponseJSON: the CID of an add is typed in Go and text on the wire, the
// bytes of the text it was before it was typed; a body naming a bad CID fails where it
// is decoded.
func TestAddResponseJSON(t *testing.T) {
	for _, c := range []string{"bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"} {
		want := `{"cid":"` + c + `","size":12}`
		b, err := json.Marshal(AddResponse{CID: cidtext.MustParse(c), Size: 12})
		if err != nil || string(b) != want {
			t.Fatalf("%s, %v; want %s", b, err, want)
		}
		var back AddResponse
		if err := json.Unmarshal(b, &back); err != nil || back.CID.String() != c || back.Size != 12 {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
	}
	var r AddResponse
	if err := json.Unmarshal([]byte(`{"cid":"bafy!!!","size":1}`), &r); err == nil || !strings.Contains(err.Error(), "is not a valid CID") {
		t.Fatalf("a bad CID decoded: %v", err)
	}
}
