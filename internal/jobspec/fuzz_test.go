package jobspec

import (
	"errors"
	"os"
	"testing"
)

// FuzzDecode: any bytes either decode to a spec or fail with an *Error; never a panic.
// A spec that decodes, and that a node would run, is written back and read again.
func FuzzDecode(f *testing.F) {
	for _, p := range []string{"testdata/wasm.yaml", "testdata/docker.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("engine: wasm\nwasm: {module: bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy}\n"))
	f.Add([]byte("Type: batch\nLabels: {env: prod, k: ''}\nTasks: [{Engine: {Type: wasm, Params: {EntryModule: bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy}}}]\n"))
	f.Add([]byte("{\"spec\": {\"engine\": \"docker\", \"docker\": {\"image\": \"x\"}}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			return
		}
		if d.Spec.Wasm == nil && d.Spec.Docker == nil {
			return
		}
		if v := d.Spec; len(d.URLInputs) == 0 {
			v.Normalize()
			if v.Validate() != nil {
				return // the node refuses it; FromSpec writes only what it would run
			}
		}
		y, err := EncodeYAML(FromSpec(d.Spec))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(y); err != nil && len(d.URLInputs) == 0 {
			t.Fatalf("re-reading\n%s\n%v", y, err)
		}
	})
}
