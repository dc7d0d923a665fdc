package rthub

/*
#include <stdint.h>
#include <stdlib.h>
#include <rthub/rthub.h>
*/
import "C"

import (
	"encoding/json"
	"unsafe"
)

// HistoryDirection says which page of a channel's history Hub.History reads.
type HistoryDirection int

const (
	HistoryLatest HistoryDirection = C.RTHUB_HISTORY_LATEST // the latest Limit messages
	HistoryBefore HistoryDirection = C.RTHUB_HISTORY_BEFORE // the Limit messages before Seq
	HistoryAfter  HistoryDirection = C.RTHUB_HISTORY_AFTER  // the Limit messages after Seq
)

// HistoryQuery selects a page: Limit is 1 to 1000 (0 means 100).
type HistoryQuery struct {
	Direction HistoryDirection
	Seq       uint64
	Limit     int
}

// HistoryMessage is one message of a page, the object a subscriber receives.
type HistoryMessage struct {
	Channel string          `json:"channel"`
	Epoch   string          `json:"epoch"`
	Seq     uint64          `json:"seq"`
	Type    string          `json:"type"`
	Data    json.RawMessage `json:"data"`
	TS      int64           `json:"ts"` // publish time, milliseconds since the Unix epoch
}

// HistoryPage is a page of a channel's history in its current epoch, in ascending Seq.
type HistoryPage struct {
	Channel  string           `json:"channel"`
	Epoch    string           `json:"epoch"`
	Messages []HistoryMessage `json:"messages"`
}

// History reads a page of a persisted channel's history (the hub needs
// Options.PostgresConninfo) and waits for it. No OnChannel hook runs: the host asks. Not from
// OnConnect or OnChannel. Errors: ErrInvalid (channel name, limit, a channel that is not
// persisted), ErrState (not started), ErrUnavailable (PostgreSQL unreachable).
func (h *Hub) History(channel string, q HistoryQuery) (HistoryPage, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.c == nil {
		return HistoryPage{}, errClosed("Hub.History")
	}
	limit := q.Limit
	if limit == 0 {
		limit = 100
	}
	if limit < 0 {
		return HistoryPage{}, &Error{Op: "Hub.History", Code: ErrInvalid, Detail: "limit is negative"}
	}
	cchannel := C.CString(channel)
	defer C.free(unsafe.Pointer(cchannel))
	var text *C.char
	err := call("Hub.History", func() C.rthub_err {
		return C.rthub_hub_history(h.c, cchannel, C.rthub_history_direction(q.Direction), C.uint64_t(q.Seq),
			C.size_t(limit), &text)
	})
	if err != nil {
		return HistoryPage{}, err
	}
	defer C.rthub_string_free(text)
	var page HistoryPage
	if err := json.Unmarshal([]byte(C.GoString(text)), &page); err != nil {
		return HistoryPage{}, &Error{Op: "Hub.History", Code: ErrInternal, Detail: "answer is not JSON: " + err.Error()}
	}
	return page, nil
}
