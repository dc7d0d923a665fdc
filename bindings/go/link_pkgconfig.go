//go:build rthub_pkgconfig

package rthub

// Linking through pkg-config (go build -tags rthub_pkgconfig): the rthub.pc of an installed
// prefix (cmake --install build --prefix /opt/rthub, then
// PKG_CONFIG_PATH=/opt/rthub/lib/pkgconfig) gives the headers, -lrthub and, with --static, the
// libraries librthub.a needs. The linker takes librthub.so when the prefix holds both libraries;
// the binary then needs the prefix's lib directory at run time (LD_LIBRARY_PATH or an rpath).

// #cgo CFLAGS: -DRTHUB_STATIC
// #cgo pkg-config: --static rthub
// #cgo LDFLAGS: -lstdc++ -lm -lpthread
import "C"
