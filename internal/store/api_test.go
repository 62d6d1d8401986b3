package store

import (
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
)

// TestListTypesMatchTheAPI: the API's list query converts to the store's, field for
// field, with the same sort keys and page bound.
func TestListTypesMatchTheAPI(t *testing.T) {
	q := api.ListQuery{IDPrefix: "j-1", SortBy: api.SortID, Limit: api.MaxListLimit}
	if err := Query(q).Validate(); err != nil {
		t.Fatal(err)
	}
	if api.SortCreated != SortCreated || api.SortID != SortID || api.MaxListLimit != MaxLimit {
		t.Fatal("api and store disagree on sort keys or the page bound")
	}
}
