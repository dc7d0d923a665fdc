package rthub

// #include <rthub/rthub.h>
import "C"

import (
	"fmt"
	"runtime"
)

// Code is an rthub_err from rthub.h. Each non-zero Code is also an error value, so the codes
// double as sentinels for errors.Is:
//
//	if errors.Is(err, rthub.ErrState) { ... }
type Code int

// The codes of rthub.h (RTHUB_ERR_*).
const (
	ErrInvalid     Code = C.RTHUB_ERR_INVALID     // bad argument: channel name, JSON, option
	ErrNoMemory    Code = C.RTHUB_ERR_NOMEM       // out of memory
	ErrState       Code = C.RTHUB_ERR_STATE       // wrong state: not started, already started, stopped, closed
	ErrIO          Code = C.RTHUB_ERR_IO          // socket or file failure, e.g. the port cannot be bound
	ErrUnavailable Code = C.RTHUB_ERR_UNAVAILABLE // the broker cannot take the message now
	ErrTooLarge    Code = C.RTHUB_ERR_TOO_LARGE   // over a size limit
	ErrTimeout     Code = C.RTHUB_ERR_TIMEOUT     // a wait ran out
	ErrInternal    Code = C.RTHUB_ERR_INTERNAL    // a bug in rthub: please report it
	// ErrUnknownOutcome: a publish may or may not have happened (a broker timeout); retry it with
	// the same idempotency key.
	ErrUnknownOutcome Code = C.RTHUB_ERR_UNKNOWN_OUTCOME
)

// Error gives the library's name of the code (rthub_strerror).
func (c Code) Error() string {
	return C.GoString(C.rthub_strerror(C.rthub_err(c)))
}

// Error is a failed call: the operation, its rthub_err code and the library's detail text
// (rthub_last_error of the thread that made the call). errors.Is(err, rthub.ErrTimeout) and
// errors.As(err, &*rthub.Error) both work.
type Error struct {
	Op     string // the Go method, e.g. "Hub.Start"
	Code   Code
	Detail string // may be empty
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("rthub: %s: %s", e.Op, e.Code.Error())
	}
	return fmt.Sprintf("rthub: %s: %s: %s", e.Op, e.Code.Error(), e.Detail)
}

// Unwrap returns the Code, so that errors.Is matches the sentinels above.
func (e *Error) Unwrap() error { return e.Code }

// call runs one C call that returns rthub_err and, on failure, reads rthub_last_error on the same
// OS thread: the detail is per thread, and a goroutine may move to another thread between two
// cgo calls unless it is locked to its thread for both.
func call(op string, fn func() C.rthub_err) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := fn(); err != C.RTHUB_OK {
		return &Error{Op: op, Code: Code(err), Detail: C.GoString(C.rthub_last_error())}
	}
	return nil
}

// callFresh is call for functions that may fail without setting rthub_last_error (the client
// functions of this version of the library keep their detail apart): a detail that did not change
// across the call belongs to an earlier failure and is dropped rather than misreported.
func callFresh(op string, fn func() C.rthub_err) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := C.GoString(C.rthub_last_error())
	if err := fn(); err != C.RTHUB_OK {
		detail := C.GoString(C.rthub_last_error())
		if detail == before {
			detail = ""
		}
		return &Error{Op: op, Code: Code(err), Detail: detail}
	}
	return nil
}

// errClosed is what methods of a closed object return.
func errClosed(op string) error {
	return &Error{Op: op, Code: ErrState, Detail: "closed"}
}
