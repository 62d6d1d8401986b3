package dockerfallback

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/registry"
)

// hubServer is the key of Docker Hub's credentials in a Docker config.
const hubServer = "https://index.docker.io/v1/"

// dockerConfig is what a Docker config (config.json) says of registry credentials.
type dockerConfig struct {
	Auths       map[string]registry.AuthConfig `json:"auths"`
	CredsStore  string                         `json:"credsStore"`
	CredHelpers map[string]string              `json:"credHelpers"`
}

// registryAuth is the X-Registry-Auth of a pull of ref: the credentials that the
// Docker config of the node's user ($DOCKER_CONFIG/config.json, else
// ~/.docker/config.json) holds for ref's registry, as the docker CLI finds them: from
// the registry's credential helper, the config's credential store, or its auths. ""
// means none (an anonymous pull). The engine does not read that config itself: its
// client sends the credentials with each pull.
func registryAuth(ctx context.Context, ref string) (string, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", nil
		}
		dir = filepath.Join(home, ".docker")
	}
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("reading the Docker config %s: %w", path, err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("reading the Docker config %s: %w", path, err)
	}
	host := registryHost(ref)
	server := host
	if host == "docker.io" {
		server = hubServer
	}
	auth, found := registry.AuthConfig{}, false
	helper := cfg.CredHelpers[host]
	if helper == "" {
		helper = cfg.CredsStore
	}
	if helper != "" {
		if auth, found, err = helperCredentials(ctx, helper, server); err != nil {
			return "", err
		}
	}
	if !found {
		for key, a := range cfg.Auths {
			if hostOf(key) == hostOf(server) {
				auth, found = a, true
				break
			}
		}
	}
	if !found {
		return "", nil
	}
	if auth.Auth != "" && auth.Username == "" { // "auth" is base64 of user:password
		if b, err := base64.StdEncoding.DecodeString(auth.Auth); err == nil {
			auth.Username, auth.Password, _ = strings.Cut(string(b), ":")
		}
	}
	auth.Auth, auth.ServerAddress = "", server
	return registry.EncodeAuthConfig(auth)
}

// helperCredentials asks the credential helper docker-credential-<name> for server's
// credentials; found is false when it has none.
func helperCredentials(ctx context.Context, name, server string) (a registry.AuthConfig, found bool, err error) {
	cmd := exec.CommandContext(ctx, "docker-credential-"+name, "get")
	cmd.Stdin = strings.NewReader(server)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stdout.String() + " " + stderr.String())
		if strings.Contains(msg, "credentials not found") {
			return a, false, nil
		}
		return a, false, fmt.Errorf("asking the credential helper docker-credential-%s for %s's credentials: %v: %s", name, server, err, msg)
	}
	var c struct{ Username, Secret string }
	if err := json.Unmarshal(stdout.Bytes(), &c); err != nil {
		return a, false, fmt.Errorf("the credential helper docker-credential-%s: %v", name, err)
	}
	if c.Username == "<token>" { // an identity token, as docker login stores one
		return registry.AuthConfig{IdentityToken: c.Secret}, true, nil
	}
	return registry.AuthConfig{Username: c.Username, Password: c.Secret}, true, nil
}

// registryHost is the registry of an image reference, as the engine reads it: its
// first component when that names a host (a dot, a port or localhost), else Docker
// Hub.
func registryHost(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	if !ok || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return "docker.io"
	}
	if first == "index.docker.io" || first == "registry-1.docker.io" {
		return "docker.io"
	}
	return first
}

// hostOf is the host of a key of a config's auths: a host, or a URL.
func hostOf(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	key, _, _ = strings.Cut(key, "/")
	if key == "index.docker.io" || key == "registry-1.docker.io" {
		return "docker.io"
	}
	return key
}
