package job

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseInput reads one -i flag value, in the forms upstream Bacalhau accepts:
//
//	<CID>                       mounted at /inputs
//	ipfs://<CID>                mounted at /inputs
//	ipfs://<CID>:/data          mounted at /data
//	src=ipfs://<CID>,dst=/data  the long form; src may also name a path inside the DAG: ipfs://<CID>/sub/dir
func ParseInput(s string) (Input, error) {
	if strings.HasPrefix(s, "src=") || strings.HasPrefix(s, "dst=") {
		return parseLongInput(s)
	}
	src, dst := s, DefaultInputsPath
	body := strings.TrimPrefix(s, "ipfs://")
	if i := strings.Index(body, ":"); i >= 0 {
		src, dst = body[:i], body[i+1:]
	}
	return makeInput(src, dst)
}

func parseLongInput(s string) (Input, error) {
	var src, dst string
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Input{}, invalid("input %q: %q is not key=value (want src=ipfs://<CID>,dst=/path)", s, kv)
		}
		switch strings.TrimSpace(k) {
		case "src", "source":
			src = v
		case "dst", "target":
			dst = v
		default:
			return Input{}, invalid("input %q: unknown key %q (want src and dst)", s, k)
		}
	}
	if src == "" {
		return Input{}, invalid("input %q has no src=ipfs://<CID>", s)
	}
	if dst == "" {
		dst = DefaultInputsPath
	}
	return makeInput(src, dst)
}

func makeInput(src, dst string) (Input, error) {
	src = strings.TrimPrefix(strings.TrimPrefix(src, "ipfs://"), "/ipfs/")
	c, sub, _ := strings.Cut(src, "/")
	if _, err := ParseCID(c); err != nil {
		return Input{}, invalid("input: %v", err)
	}
	in := Input{CID: c, Path: sub, Target: dst}
	if err := in.validate(); err != nil {
		return Input{}, err
	}
	return in, nil
}

// ParseEnv reads -e flag values of the form K=V into a map.
func ParseEnv(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	env := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, invalid("environment variable %q must look like NAME=value", kv)
		}
		env[k] = v
	}
	return env, nil
}

// String prints an input back in the short flag form.
func (in Input) String() string {
	src := "ipfs://" + in.CID
	if in.Path != "" {
		src += "/" + strings.Trim(in.Path, "/")
	}
	return fmt.Sprintf("%s:%s", src, in.Target)
}

// ParseCPU reads a CPU limit as Kubernetes and upstream Bacalhau write it: cores
// ("2", "0.5") or thousandths of a core ("500m"). It returns thousandths.
func ParseCPU(s string) (int64, error) {
	bad := invalid("cpu %q: want cores like 0.5 or 2, or thousandths like 500m", s)
	if s == "" || len(s) > 32 {
		return 0, bad
	}
	if m, ok := strings.CutSuffix(s, "m"); ok {
		n, err := strconv.ParseInt(m, 10, 64)
		if err != nil || n <= 0 || n > maxCPU {
			return 0, bad
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || f > maxCPU/1000 {
		return 0, bad
	}
	n := int64(math.Round(f * 1000))
	if n < 1 {
		return 0, bad
	}
	return n, nil
}
