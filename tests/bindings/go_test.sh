#!/usr/bin/env bash
# go test -race ./... in bindings/go against the build tree's librthub.a.
# Usage: go_test.sh SOURCE_DIR BUILD_DIR LIB_DIR [SANITIZERS]
set -euo pipefail
source "$(dirname "$0")/go_env.sh"
cd "$src/bindings/go"
go vet ./...
go test $go_race -count=1 -timeout 240s -v ./...
