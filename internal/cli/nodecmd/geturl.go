package nodecmd

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cli"
)

// bacalhau-node downloads URL inputs with net/http, for itself and for the light client
// (which runs `bacalhau-node data fetch-url`).
func init() { cli.GetURL = getURL }

func getURL(ctx context.Context, u string) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("the server answered %s", resp.Status)
	}
	return resp.Body, resp.ContentLength, nil
}
