package rthub

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// A Publish whose context ends returns at once and leaves nothing waiting: no goroutine (and so
// no OS thread held in C) while the hub has not answered yet. The service thread is held busy by
// an OnConnect hook, so the publish cannot complete until the test lets it.
func TestPublishReturnsOnCancelWithoutLeaking(t *testing.T) {
	checkNoLeaks(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hub := startHub(t, Options{OnConnect: func(ConnectInfo) ConnectDecision {
		once.Do(func() {
			close(entered)
			<-release // holds the service thread: nothing queued to it runs
		})
		return ConnectDecision{}
	}})
	defer once.Do(func() {}) // a failing test must not leave the hook blocking
	// A stream request runs the hook on the service thread.
	var requests sync.WaitGroup
	requests.Add(1)
	streamCtx, stopStream := context.WithCancel(context.Background())
	defer stopStream()
	go func() {
		defer requests.Done()
		req, _ := http.NewRequestWithContext(streamCtx, "GET", hubURL(hub)+"/events?channel=hold", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-entered:
	case <-time.After(hangTimeout): // an event: a loopback request reaches the hook
		close(release)
		t.Fatal("the OnConnect hook was not called")
	}

	goroutines, objects := runtime.NumGoroutine(), liveObjects.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := hub.Publish(ctx, "held", "", []byte(`{"n":1}`))
	if !errors.Is(err, context.DeadlineExceeded) {
		close(release)
		t.Fatalf("Publish while the hub is held: %v, want the context's error", err)
	}
	// Publish returns when its context ends (50 ms), not when the held hub answers.
	if waited := time.Since(start); waited > 50*time.Millisecond+schedulingAllowance {
		t.Errorf("Publish returned %v after its context ended", waited)
	}
	// Nothing waits for the outcome: the goroutine count is back where it was (the context's
	// timer goroutine may take a moment to end); the completion's handle is still held by the
	// hub, which has not answered yet.
	deadline := time.Now().Add(hangTimeout)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after a cancelled Publish, %d before", n, goroutines)
	}
	if n := liveObjects.Load(); n != objects+1 {
		t.Errorf("%d native objects while the publish is pending, want %d", n, objects+1)
	}

	close(release)
	// The hub takes the message after all (seq 1): its completion finds nobody waiting and
	// releases its handle.
	for deadline := time.Now().Add(hangTimeout); liveObjects.Load() != objects && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := liveObjects.Load(); n != objects {
		t.Errorf("%d native objects after the completion, want %d", n, objects)
	}
	pos, err := hub.Publish(context.Background(), "held", "", []byte(`{"n":2}`))
	if err != nil || pos.Seq != 2 {
		t.Errorf("the next Publish: %+v %v, want seq 2", pos, err)
	}
	stopStream()
	requests.Wait()
}

// Many goroutines publish and cancel at random moments: every Publish returns, and once the hub
// is closed no handle or goroutine is left.
func TestPublishCancelStorm(t *testing.T) {
	checkNoLeaks(t)
	hub := startHub(t, Options{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				ctx, cancel := context.WithCancel(context.Background())
				if i%3 == g%3 {
					cancel()
				}
				_, err := hub.Publish(ctx, "storm", "", []byte(`1`))
				cancel()
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	hub.Close()
}

func TestPublishOptions(t *testing.T) {
	checkNoLeaks(t)
	hub := startHub(t, Options{})
	ctx := context.Background()
	key := strings.Repeat("k", 128)
	if _, err := hub.PublishWithOptions(ctx, "keyed", "", []byte(`1`), PublishOptions{IdempotencyKey: key}); err != nil {
		t.Fatalf("a 128-byte key: %v", err)
	}
	_, err := hub.PublishWithOptions(ctx, "keyed", "", []byte(`1`), PublishOptions{IdempotencyKey: key + "k"})
	var e *Error
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) || !strings.Contains(e.Detail, "128") {
		t.Fatalf("a 129-byte key: %v", err)
	}
	if err := hub.PublishAsyncWithOptions("keyed", "", []byte(`1`), PublishOptions{IdempotencyKey: key + "k"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a 129-byte key, async: %v", err)
	}
	if _, err := hub.Publish(ctx, "bad channel", "", []byte(`1`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a bad channel: %v", err)
	}
	hub.Close()
	if _, err := hub.Publish(ctx, "keyed", "", []byte(`1`)); !errors.Is(err, ErrState) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

// Keyed publishes reach the hub: a key past MaxKeys is refused, an existing key is updated, a
// delete makes room, and a bad key is ErrInvalid.
func TestPublishKeyed(t *testing.T) {
	checkNoLeaks(t)
	hub := startHub(t, Options{MaxKeys: 2})
	ctx := context.Background()
	for _, k := range []string{"a", "b", "a"} {
		if _, err := hub.PublishWithOptions(ctx, "zones", "", []byte(`1`), PublishOptions{Key: k}); err != nil {
			t.Fatalf("key %s: %v", k, err)
		}
	}
	if _, err := hub.PublishWithOptions(ctx, "zones", "", []byte(`1`), PublishOptions{Key: "c"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a third key past MaxKeys 2: %v, want ErrInvalid", err)
	}
	if _, err := hub.PublishWithOptions(ctx, "zones", "", []byte(`null`), PublishOptions{Key: "b", DeleteKey: true}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := hub.PublishWithOptions(ctx, "zones", "", []byte(`1`), PublishOptions{Key: "c"}); err != nil {
		t.Fatalf("a key after a delete made room: %v", err)
	}
	if _, err := hub.PublishWithOptions(ctx, "zones", "", []byte(`1`), PublishOptions{Key: strings.Repeat("k", 257)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a 257-byte key: %v", err)
	}
	if _, err := hub.PublishWithOptions(ctx, "zones", "", []byte(`1`), PublishOptions{DeleteKey: true}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a delete without key: %v", err)
	}
}

// The options of 0.2 reach the library, which checks them.
func TestNewHubOptionsChecked(t *testing.T) {
	checkNoLeaks(t)
	cases := []struct {
		name     string
		opts     Options
		mentions string // "" : accepted
	}{
		{"cluster seeds", Options{RedisCluster: []string{"127.0.0.1:7000", "127.0.0.1:7001"}}, ""},
		{"cluster seed without port", Options{RedisCluster: []string{"redis"}}, "redis_cluster"},
		{"window", Options{IdempotencyWindow: time.Minute}, ""},
		{"persist", Options{PostgresConninfo: "dbname=rthub", PersistPatterns: []string{"orders:*"}, PersistTTL: time.Hour, PersistBuffer: 10}, ""},
		{"persist without postgres", Options{PersistPatterns: []string{"orders:*"}}, "postgres_conninfo"},
		{"no history", Options{HistorySize: NoHistory}, ""},
	}
	for _, c := range cases {
		c.opts.Addr = "127.0.0.1:0"
		hub, err := NewHub(c.opts)
		if hub != nil {
			hub.Close()
		}
		var e *Error
		switch {
		case c.mentions == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.mentions != "" && (!errors.As(err, &e) || e.Code != ErrInvalid || !strings.Contains(e.Detail, c.mentions)):
			t.Errorf("%s: %v, want ErrInvalid about %s", c.name, err, c.mentions)
		}
	}
}

// HistorySize: NoHistory keeps nothing to resume from: a client continuing from the first
// message is told it missed the second (not recovered), where a default hub replays it.
func TestNoHistory(t *testing.T) {
	checkNoLeaks(t)
	for _, c := range []struct {
		size      int
		recovered bool
	}{{NoHistory, false}, {0, true}} {
		hub := startHub(t, Options{HistorySize: c.size})
		ctx := context.Background()
		first, err := hub.Publish(ctx, "h", "", []byte(`1`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hub.Publish(ctx, "h", "", []byte(`2`)); err != nil {
			t.Fatal(err)
		}
		cl := fastClient(t, hubURL(hub))
		if err := cl.SubscribeFrom("h", first); err != nil {
			t.Fatal(err)
		}
		if sub := next[Subscribed](t, cl); sub.Recovered != c.recovered {
			t.Errorf("HistorySize %d: subscribed %+v, want recovered %v", c.size, sub, c.recovered)
		}
		cl.Close()
		hub.Close()
	}
}

// A state that a newer library adds prints as a number, and an event of an unknown kind is an
// UnknownEvent rather than a crash.
func TestUnknownStateAndKind(t *testing.T) {
	if s := ClientState(99).String(); s != "ClientState(99)" {
		t.Errorf("ClientState(99) = %q", s)
	}
	var e Event = UnknownEvent{Kind: 42}
	if e.String() != "event of unknown kind 42" {
		t.Errorf("UnknownEvent: %q", e.String())
	}
}
