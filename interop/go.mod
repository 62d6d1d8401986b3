module github.com/bacalhau-project/bacalhau-wasm/interop

go 1.26.0
