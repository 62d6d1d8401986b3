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
//
// and, to let the guest change a copy of the input (copy-on-write, discarded after the
// run), the short form ending in :rw (ipfs://<CID>:/data:rw, ipfs://<CID>:/:rw for the
// guest's root) or the long form with rw (src=ipfs://<CID>,dst=/data,rw). :ro and ro
// say read-only, the default.
func ParseInput(s string) (Input, error) {
	if strings.HasPrefix(s, "src=") || strings.HasPrefix(s, "dst=") {
		return parseLongInput(s)
	}
	src, dst := s, DefaultInputsPath
	body := strings.TrimPrefix(s, "ipfs://")
	if i := strings.Index(body, ":"); i >= 0 {
		src, dst = body[:i], body[i+1:]
	}
	writable := false
	if d, mode, ok := cutMode(dst); ok {
		dst, writable = d, mode == "rw"
	}
	if i := strings.LastIndex(dst, ":"); i >= 0 {
		return Input{}, invalid("input %q: unknown mount mode %q after the target (want :rw or :ro)", s, dst[i+1:])
	}
	in, err := makeInput(src, dst)
	in.Writable = writable && err == nil
	return in, err
}

// cutMode splits a trailing ":rw" or ":ro" off a mount target.
func cutMode(dst string) (target, mode string, ok bool) {
	i := strings.LastIndex(dst, ":")
	if i < 0 {
		return dst, "", false
	}
	switch m := dst[i+1:]; m {
	case "rw", "ro":
		return dst[:i], m, true
	}
	return dst, "", false
}

func parseLongInput(s string) (Input, error) {
	var src, dst string
	writable := false
	for _, kv := range strings.Split(s, ",") {
		switch strings.TrimSpace(kv) {
		case "rw":
			writable = true
			continue
		case "ro":
			writable = false
			continue
		}
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
			return Input{}, invalid("input %q: unknown key %q (want src, dst, and rw or ro)", s, k)
		}
	}
	if src == "" {
		return Input{}, invalid("input %q has no src=ipfs://<CID>", s)
	}
	if dst == "" {
		dst = DefaultInputsPath
	}
	in, err := makeInput(src, dst)
	in.Writable = writable && err == nil
	return in, err
}

func makeInput(src, dst string) (Input, error) {
	src = strings.TrimPrefix(strings.TrimPrefix(src, "ipfs://"), "/ipfs/")
	c, sub, _ := strings.Cut(src, "/")
	k, err := ParseCID(c)
	if err != nil {
		return Input{}, invalid("input: %v", err)
	}
	in := Input{CID: k, Path: sub, Target: dst}
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
	src := "ipfs://" + in.CID.String()
	if in.Path != "" {
		src += "/" + strings.Trim(in.Path, "/")
	}
	if in.Writable {
		return fmt.Sprintf("%s:%s:rw", src, in.Target)
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
