package rthub

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Without PostgreSQL a hub has no persisted channel: History refuses, naming why.
func TestHistoryWithoutStore(t *testing.T) {
	checkNoLeaks(t)
	hub := startHub(t, Options{})
	var rerr *Error
	_, err := hub.History("news", HistoryQuery{})
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &rerr) || !strings.Contains(rerr.Detail, "not persisted") {
		t.Fatalf("History without a store: %#v", err)
	}
	if _, err := hub.History("news", HistoryQuery{Limit: 1001}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("limit 1001: %v", err)
	}
	if _, err := hub.History("bad channel!", HistoryQuery{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad channel: %v", err)
	}
	hub.Close()
	if _, err := hub.History("news", HistoryQuery{}); !errors.Is(err, ErrState) {
		t.Fatalf("closed hub: %v", err)
	}
}

// With RTHUB_TEST_POSTGRES (a libpq conninfo of a scratch database), the three forms of a page.
func TestHistoryFromPostgres(t *testing.T) {
	conninfo := os.Getenv("RTHUB_TEST_POSTGRES")
	if conninfo == "" {
		t.Skip("RTHUB_TEST_POSTGRES is not set (a PostgreSQL conninfo)")
	}
	hub := startHub(t, Options{PostgresConninfo: conninfo, PersistPatterns: []string{"gohist:*"}})
	ctx := context.Background()
	var last Position
	for i := 0; i < 30; i++ {
		p, err := hub.Publish(ctx, "gohist:a", "", []byte(`{"i":`+strconv.Itoa(i+1)+`}`))
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		last = p
	}
	page, err := hub.History("gohist:a", HistoryQuery{Limit: 10})
	if err != nil || page.Epoch != last.Epoch || len(page.Messages) != 10 || page.Messages[9].Seq != last.Seq {
		t.Fatalf("latest: %+v %v", page, err)
	}
	page, err = hub.History("gohist:a", HistoryQuery{Direction: HistoryBefore, Seq: last.Seq - 25, Limit: 4})
	if err != nil || len(page.Messages) != 4 || page.Messages[0].Seq != last.Seq-29 || page.Messages[3].Seq != last.Seq-26 {
		t.Fatalf("before: %+v %v", page, err)
	}
	page, err = hub.History("gohist:a", HistoryQuery{Direction: HistoryAfter, Seq: last.Seq - 2, Limit: 10})
	if err != nil || len(page.Messages) != 2 || string(page.Messages[1].Data) != `{"i": 30}` {
		t.Fatalf("after: %+v %v", page, err)
	}
}
