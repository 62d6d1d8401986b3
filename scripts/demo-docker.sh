#!/usr/bin/env bash
# make demo-docker: a throwaway node runs a Docker job (the local busybox image that
# make test-images builds) over data added to IPFS, prints the result, and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
export BACALHAU_API_PORT=$port
bin/bacalhau-node serve --repo "$repo" --api-port "$port" --swarm-port 0 --docker on >"$repo.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$repo" "$repo.log"' EXIT
for _ in $(seq 100); do bin/bacalhau version >/dev/null 2>&1 && break; sleep 0.1; done
printf 'the quick brown fox\njumps over\nthe lazy dog\n' >"$repo/words.txt"
cid=$(bin/bacalhau data add "$repo/words.txt")
echo "+ bacalhau docker run -i $cid bacalhau-test/busybox -- sh -c 'wc -w /inputs/* | tee /outputs/count'"
bin/bacalhau docker run -i "$cid" bacalhau-test/busybox -- sh -c 'wc -w /inputs/* | tee /outputs/count'
