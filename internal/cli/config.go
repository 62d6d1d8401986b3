package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// The config file: YAML under the repository (config.yaml in $BACALHAU_DIR, or in
// ~/.bacalhau), keys nested as upstream's (API.Port is API: {Port: 1235}). A value is
// taken from, in order: the command-line flag, the environment variable, the config
// file, the built-in default.

type configKey struct {
	key, flag, env, help string
	check                func(string) error
}

var configKeys = []configKey{
	{"API.Host", "api-host", "BACALHAU_API_HOST", "host of the node's API (serve listens there; clients connect there)", func(v string) error {
		if v == "" || strings.ContainsAny(v, " /") {
			return fmt.Errorf("%q is not a host name or address", v)
		}
		return nil
	}},
	{"API.Port", "api-port", "BACALHAU_API_PORT", "port of the node's API", func(v string) error {
		if p, err := strconv.Atoi(v); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%q is not a port (1 to 65535)", v)
		}
		return nil
	}},
}

const maxConfigBytes = 64 << 10

func findKey(k string) (configKey, error) {
	for _, c := range configKeys {
		if strings.EqualFold(c.key, k) {
			return c, nil
		}
	}
	names := make([]string, len(configKeys))
	for i, c := range configKeys {
		names[i] = c.key
	}
	return configKey{}, fmt.Errorf("unknown config key %q (known: %s)", k, strings.Join(names, ", "))
}

// defaultConfigPath is config.yaml in the default repository.
func defaultConfigPath() string {
	dir := os.Getenv("BACALHAU_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".bacalhau")
	}
	return filepath.Join(dir, "config.yaml")
}

// readConfig reads the config file into flat keys (API.Port); a missing file is empty.
func readConfig(path string) (map[string]string, error) {
	out := map[string]string{}
	if path == "" {
		return out, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("config %s: over %d bytes", path, maxConfigBytes)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(b, &tree); err != nil {
		return nil, fmt.Errorf("config %s: %v", path, err)
	}
	if err := flatten("", tree, out); err != nil {
		return nil, fmt.Errorf("config %s: %v", path, err)
	}
	for k, v := range out {
		c, err := findKey(k)
		if err != nil {
			return nil, fmt.Errorf("config %s: %v", path, err)
		}
		if err := c.check(v); err != nil {
			return nil, fmt.Errorf("config %s: %s: %v", path, c.key, err)
		}
		if k != c.key {
			delete(out, k)
			out[c.key] = v
		}
	}
	return out, nil
}

func flatten(prefix string, m map[string]any, out map[string]string) error {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			if err := flatten(key, v, out); err != nil {
				return err
			}
		case string:
			out[key] = v
		case int:
			out[key] = strconv.Itoa(v)
		case uint64:
			out[key] = strconv.FormatUint(v, 10)
		case float64:
			out[key] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			out[key] = strconv.FormatBool(v)
		default:
			return fmt.Errorf("%s: want a single value", key)
		}
	}
	return nil
}

// writeConfig writes flat keys back as nested YAML, replacing the file at once.
func writeConfig(path string, flat map[string]string) error {
	tree := map[string]any{}
	for k, v := range flat {
		parts := strings.Split(k, ".")
		m := tree
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		if n, err := strconv.Atoi(v); err == nil && strings.HasSuffix(k, "Port") {
			m[parts[len(parts)-1]] = n
		} else {
			m[parts[len(parts)-1]] = v
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(tree); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	b := buf.Bytes()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// addConfig adds --config, the config group, and the hook that applies the file to
// flags neither given nor set in the environment.
func addConfig(root *cobra.Command, e *Env) {
	var path string
	root.PersistentFlags().StringVar(&path, "config", defaultConfigPath(), "config file (see `bacalhau config list`)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if cmd.Parent() != nil && cmd.Parent().Name() == "config" {
			return nil // config commands must work on a broken file
		}
		cfg, err := readConfig(path)
		if err != nil {
			return err
		}
		for _, c := range configKeys {
			v, ok := cfg[c.key]
			f := cmd.Flags().Lookup(c.flag)
			if !ok || f == nil || f.Changed || os.Getenv(c.env) != "" {
				continue
			}
			if err := f.Value.Set(v); err != nil {
				return fmt.Errorf("config %s: %s: %v", path, c.key, err)
			}
		}
		return nil
	}
	group := &cobra.Command{Use: "config", Short: "Show and change settings: flags override the environment, which overrides the config file"}
	group.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "Every setting, its value and where the value comes from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := readConfig(path)
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(configKeys))
			for _, c := range configKeys {
				v, src := effective(cmd, c, cfg, path)
				rows = append(rows, []string{c.key, v, src, c.help})
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
			return table(e.Stdout, []string{"KEY", "VALUE", "FROM", "DESCRIPTION"}, rows, false)
		},
	}, &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value a setting has now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := findKey(args[0])
			if err != nil {
				return err
			}
			cfg, err := readConfig(path)
			if err != nil {
				return err
			}
			v, _ := effective(cmd, c, cfg, path)
			fmt.Fprintln(e.Stdout, v)
			return nil
		},
	}, &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Write a setting to the config file",
		Example: `  bacalhau config set API.Port 1235
  bacalhau config set API.Host 10.0.0.5`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := findKey(args[0])
			if err != nil {
				return err
			}
			if err := c.check(args[1]); err != nil {
				return fmt.Errorf("%s: %v", c.key, err)
			}
			cfg, err := readConfig(path)
			if err != nil {
				return err
			}
			cfg[c.key] = args[1]
			if err := writeConfig(path, cfg); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "%s = %s in %s\n", c.key, args[1], path)
			if v := os.Getenv(c.env); v != "" {
				fmt.Fprintf(e.Stderr, "Note: %s=%s in the environment overrides it\n", c.env, v)
			}
			return nil
		},
	})
	root.AddCommand(group)
}

// effective is the value of c and where it comes from.
func effective(cmd *cobra.Command, c configKey, cfg map[string]string, path string) (string, string) {
	f := cmd.Flags().Lookup(c.flag)
	switch {
	case f != nil && f.Changed:
		return f.Value.String(), "flag --" + c.flag
	case os.Getenv(c.env) != "":
		return os.Getenv(c.env), "env " + c.env
	}
	if v, ok := cfg[c.key]; ok {
		return v, "config " + path
	}
	if f != nil {
		return f.DefValue, "default"
	}
	return "", "default"
}
