// Package rthub embeds rthub, a hub that pushes real-time JSON messages to browsers and apps over
// WebSocket (/ws) and Server-Sent Events (/events), in a Go program. It binds the C ABI of
// librthub (include/rthub/rthub.h) and links librthub.a; see README.md for the build.
//
// A Hub serves on its own thread; Publish and the other methods are safe from any goroutine:
//
//	hub, err := rthub.NewHub(rthub.Options{Addr: "127.0.0.1:8090"})
//	if err != nil { ... }
//	defer hub.Close()
//	if err := hub.Start(); err != nil { ... }
//	pos, err := hub.Publish(ctx, "geometry", "geometry.updated", []byte(`{"id":7}`))
//
// Errors are *Error values carrying the library's code; errors.Is(err, rthub.ErrState) and the
// other Code sentinels match them.
package rthub

import "sync/atomic"

// liveObjects counts the native objects and cgo handles this package holds (hubs, clients, the
// handles of their hooks): the tests check it returns to zero.
var liveObjects atomic.Int64
