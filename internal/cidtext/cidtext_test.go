package cidtext

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mbase "github.com/multiformats/go-multibase"
	mh "github.com/multiformats/go-multihash"
)

// samples are CIDs in the forms users give them, each checked against go-cid.
func samples(t testing.TB) []string {
	sum := sha256.Sum256([]byte("hello"))
	enc, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	id, err := mh.Encode([]byte("tiny"), mh.IDENTITY)
	if err != nil {
		t.Fatal(err)
	}
	v0 := cid.NewCidV0(enc)
	raw := cid.NewCidV1(cid.Raw, enc)
	pb := cid.NewCidV1(cid.DagProtobuf, enc)
	ident := cid.NewCidV1(cid.Raw, id)
	out := []string{v0.String(), raw.String(), pb.String(), ident.String(),
		"bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
		"QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"}
	for _, c := range []cid.Cid{raw, pb, ident} {
		for _, b := range []mbase.Encoding{mbase.Base32Upper, mbase.Base58BTC, mbase.Base36, mbase.Base36Upper,
			mbase.Base16, mbase.Base16Upper, mbase.Base64, mbase.Base64pad, mbase.Base64url, mbase.Base64urlPad} {
			s, err := c.StringOfBase(b)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
	}
	return out
}

func TestParseAgreesWithGoCID(t *testing.T) {
	for _, s := range samples(t) {
		want, err := cid.Decode(s)
		if err != nil {
			t.Fatalf("go-cid refuses its own %q: %v", s, err)
		}
		for _, in := range []string{s, "ipfs://" + s, "/ipfs/" + s} {
			got, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", in, err)
			}
			if got.String() != want.String() || string(got.Bytes()) != string(want.Bytes()) {
				t.Fatalf("Parse(%q) = %s, go-cid says %s", in, got, want)
			}
			if got.Version() != want.Version() {
				t.Fatalf("%s: version %d, go-cid says %d", s, got.Version(), want.Version())
			}
		}
	}
}

func TestParseRefusesGarbage(t *testing.T) {
	for in, want := range map[string]string{
		"":            "empty CID",
		"ipfs://":     "empty CID",
		"x":           "too short",
		"hello-world": "not supported",
		"bafy!!!":     "bad multibase",
		"QmNotBase58lllllllllllllllllllllllllllllllllll":                "invalid character",
		"b" + strings.Repeat("a", 600):                                  "too long",
		"bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n":     "digest bytes",
		"bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea": "",
	} {
		_, err := Parse(in)
		_, gerr := cid.Decode(strings.TrimPrefix(in, "ipfs://"))
		if want == "" { // a valid CID: both agree
			if err != nil || gerr != nil {
				t.Fatalf("Parse(%q) = %v, go-cid %v", in, err, gerr)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Parse(%q) = %v, want an error saying %q", in, err, want)
		}
		if gerr == nil {
			t.Fatalf("go-cid accepts %q, which Parse refuses", in)
		}
	}
}

func TestV1(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	enc, _ := mh.Encode(sum[:], mh.SHA2_256)
	for _, codec := range []uint64{Raw, DagPB} {
		if got, want := V1(codec, sum[:]).String(), cid.NewCidV1(codec, enc).String(); got != want {
			t.Fatalf("V1(%x) = %s, want %s", codec, got, want)
		}
	}
	if (CID{}).Defined() || (CID{}).String() != "" {
		t.Fatal("the zero CID is defined")
	}
}

// FuzzParse holds Parse to go-cid: what Parse accepts go-cid accepts with the same bytes,
// and a CID go-cid prints Parse reads back.
func FuzzParse(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(s)
	}
	f.Add("zzzz")
	f.Add("k2jmtxw8rjh1z69c6not4wjm55k2ypgl7rd4b4ry5v2kaayd4oq0wfw8")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error with no words")
			}
			return
		}
		raw := strings.TrimPrefix(strings.TrimPrefix(s, "ipfs://"), "/ipfs/")
		want, gerr := cid.Decode(raw)
		if gerr != nil {
			// go-cid's base decoders are stricter about non-canonical trailing bits
			// than the standard library's; the bytes must still form a CID go-cid casts.
			if _, cerr := cid.Cast(got.Bytes()); cerr != nil {
				t.Fatalf("Parse(%q) accepts what go-cid refuses: %v / %v", s, gerr, cerr)
			}
			return
		}
		if string(got.Bytes()) != string(want.Bytes()) || got.String() != want.String() {
			t.Fatalf("Parse(%q) = %s, go-cid says %s", s, got, want)
		}
		back, err := Parse(got.String())
		if err != nil || back != got {
			t.Fatalf("%s does not read back: %v", got, err)
		}
	})
}

// TestJSON: a CID in JSON is its text, the zero CID is "", and garbage is refused with
// Parse's words.
func TestJSON(t *testing.T) {
	type doc struct {
		C CID `json:"c"`
		Z CID `json:"z,omitzero"`
	}
	c := MustParse("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n")
	b, err := json.Marshal(doc{C: c})
	if err != nil || string(b) != `{"c":"QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"c":"ipfs://QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n","z":""}`), &d); err != nil || d.C != c || d.Z.Defined() {
		t.Fatalf("Unmarshal = %+v, %v", d, err)
	}
	err = json.Unmarshal([]byte(`{"c":"hello-world"}`), &d)
	if err == nil || !strings.Contains(err.Error(), "is not a valid CID") {
		t.Fatalf("Unmarshal of garbage = %v, want Parse's error", err)
	}
}

// FuzzUnmarshalText: what UnmarshalText accepts is what Parse accepts, and marshals back
// to text that reads as the same CID.
func FuzzUnmarshalText(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(s)
	}
	f.Add("")
	f.Add("ipfs://")
	f.Fuzz(func(t *testing.T, s string) {
		var c CID
		err := c.UnmarshalText([]byte(s))
		if s == "" {
			if err != nil || c.Defined() {
				t.Fatalf("UnmarshalText(\"\") = %v, %v", c, err)
			}
			return
		}
		p, perr := Parse(s)
		if (err == nil) != (perr == nil) || c != p {
			t.Fatalf("UnmarshalText(%q) = %v, %v; Parse says %v, %v", s, c, err, p, perr)
		}
		if err != nil {
			return
		}
		b, _ := c.MarshalText()
		var back CID
		if err := back.UnmarshalText(b); err != nil || back != c {
			t.Fatalf("%q does not read back: %v", b, err)
		}
	})
}
