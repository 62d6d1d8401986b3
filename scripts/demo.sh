#!/usr/bin/env bash
# make demo: start a throwaway node, add example data, run the wordcount example on it,
# print the result, and stop the node. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin/bacalhau
repo=$(mktemp -d -t bacalhau-demo-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 12345)
export BACALHAU_API_HOST=127.0.0.1 BACALHAU_API_PORT=$port
"$BIN" serve --repo "$repo/node" --swarm-host 127.0.0.1 --swarm-port 0 --log-level warn >"$repo/node.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$repo"; }
trap cleanup EXIT
for _ in $(seq 100); do "$BIN" version >/dev/null 2>&1 && "$BIN" id >/dev/null 2>&1 && break; sleep 0.05; done

mkdir -p "$repo/dataset/poems"
cat >"$repo/dataset/poems/ozymandias.txt" <<'TXT'
I met a traveller from an antique land
Who said: Two vast and trunkless legs of stone
Stand in the desert. Near them on the sand,
Half sunk, a shattered visage lies
TXT
cat >"$repo/dataset/readme.txt" <<'TXT'
Compute over data: the data stays where it is and the job goes to it.
TXT
echo "== bacalhau data add ./dataset"
cid=$("$BIN" data add "$repo/dataset")
echo "$cid"
echo
echo "== bacalhau wasm run build/examples/wordcount.wasm -i $cid"
"$BIN" wasm run build/examples/wordcount.wasm -i "$cid" | tee "$repo/run.txt"
job=$(awk '/^Job ID:/ {print $3}' "$repo/run.txt")
echo
echo "== bacalhau get $job"
"$BIN" get "$job" --output-dir "$repo/result" >/dev/null
cat "$repo/result/outputs/wordcount.tsv"
echo
echo "== bacalhau list"
"$BIN" list --wide
