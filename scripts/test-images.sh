#!/usr/bin/env bash
# Builds the local images the Docker tests and `make demo-docker` use; no registry is
# needed. bacalhau-test/busybox is FROM scratch plus Debian's static busybox and its
# applet links. Without a Docker engine it says what to install and, outside CI, succeeds
# (the tests then skip with the same message); with CI=true it fails.
set -euo pipefail
IMAGE=bacalhau-test/busybox:latest
if ! docker version >/dev/null 2>&1; then
	echo "test-images: no Docker engine answers: install docker.io and start dockerd to run the Docker tests" >&2
	[ "${CI:-}" = true ] && exit 1
	exit 0
fi
BUSYBOX=/bin/busybox # busybox-static's; the image has no libc for a dynamic one
if [ ! -x "$BUSYBOX" ] || ! dpkg -s busybox-static >/dev/null 2>&1; then
	echo "test-images: no static busybox: apt-get install -y busybox-static" >&2
	exit 1
fi
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
	exit 0
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$BUSYBOX" "$ctx/busybox"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
LABEL org.bacalhau-wasm.test=1
DOCKERFILE
docker build -q -t "$IMAGE" "$ctx"
