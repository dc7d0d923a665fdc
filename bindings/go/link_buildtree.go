//go:build !rthub_pkgconfig

package rthub

// Default linking: the static library of an rthub build tree, ../../build/lib/librthub.a next to
// this module in the rthub repository, headers from ../../include. Another build directory or an
// installed prefix comes first when named in the environment, because the linker searches -L
// directories in the order given and CGO_LDFLAGS precedes these flags:
//
//	CGO_LDFLAGS="-L/path/to/build/lib" go test ./...
//
// The libraries librthub.a itself needs (libwebsockets, libuv, hiredis, libpq, libcrypto and the C++
// runtime) are found with pkg-config. Build with -tags rthub_pkgconfig to take everything from
// the rthub.pc of an installed prefix instead (see link_pkgconfig.go and README.md).

// #cgo CFLAGS: -I${SRCDIR}/../../include -DRTHUB_STATIC
// #cgo LDFLAGS: -L${SRCDIR}/../../build/lib -l:librthub.a -lstdc++ -lm -lpthread
// #cgo pkg-config: libwebsockets libuv hiredis libpq libcrypto
import "C"
