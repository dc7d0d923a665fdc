package rthub

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain checks that the tests leave no goroutine and no native object behind.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if err := waitNoLeaks(before); err != nil {
			fmt.Fprintln(os.Stderr, "leak check:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Time in these tests is of two kinds (tests/README.md, "Time bounds"). A wait for an event the
// design says will come (a reply, a delivery, a release) promises no time: its timeout only turns
// a hang into a readable failure, so it is hangTimeout, which load cannot reach. A latency the
// design promises is asserted with a bound derived from the code, plus schedulingAllowance: what
// a busy machine may add between a timer's due time and a goroutine running.
const (
	hangTimeout         = 30 * time.Second
	schedulingAllowance = 2 * time.Second
)

// waitNoLeaks waits (up to hangTimeout) for the goroutine count to fall back to `before` and for every
// native object (hubs, clients, cgo handles) to be released.
func waitNoLeaks(before int) error {
	deadline := time.Now().Add(hangTimeout)
	for {
		goroutines, objects := runtime.NumGoroutine(), liveObjects.Load()
		if goroutines <= before && objects == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("%d goroutines (had %d), %d native objects alive\n%s", goroutines, before, objects, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNoLeaks is the same check at the end of one test.
func checkNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		if err := waitNoLeaks(before); err != nil {
			t.Error(err)
		}
	})
}

func startHub(t *testing.T, opts Options) *Hub {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	hub, err := NewHub(opts)
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	if err := hub.Start(); err != nil {
		hub.Close()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { hub.Close() })
	return hub
}

func hubAddr(h *Hub) string { return "127.0.0.1:" + strconv.Itoa(h.Port()) }

func TestVersion(t *testing.T) {
	if v := Version(); len(strings.Split(v, ".")) != 3 {
		t.Fatalf("Version() = %q", v)
	}
}

// A hub embedded in Go serves a WebSocket client (our own RFC 6455 code, no rthub code) and an
// SSE client (net/http), and fans out what goroutines publish.
func TestHubServesWebSocketAndSSE(t *testing.T) {
	checkNoLeaks(t)
	hub := startHub(t, Options{})
	if hub.Port() <= 0 {
		t.Fatalf("Port() = %d", hub.Port())
	}

	ws, err := dialWS(hubAddr(hub), "/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.sendJSON(map[string]any{"op": "subscribe", "channel": "geometry", "id": 1}); err != nil {
		t.Fatal(err)
	}
	sub, err := ws.readOp("subscribed", hangTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if sub["ref"] != 1.0 {
		t.Fatalf("subscribed: %v", sub)
	}

	resp, err := http.Get("http://" + hubAddr(hub) + "/events?channel=geometry")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	sse := bufio.NewReader(resp.Body)
	if obj := readSSE(t, sse, "subscribed"); obj["channel"] != "geometry" {
		t.Fatalf("SSE subscribed: %v", obj)
	}

	// Publish from several goroutines at once; every message arrives once, in seq order.
	const publishers, each = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, publishers*each)
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				data := fmt.Sprintf(`{"id":%d, "by":%d}`, i, p) // the space must survive
				if _, err := hub.Publish(context.Background(), "geometry", "geometry.updated", []byte(data)); err != nil {
					errs <- err
				}
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var lastSeq float64
	for i := 0; i < publishers*each; i++ {
		msg, err := ws.readOp("message", hangTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if msg["type"] != "geometry.updated" || msg["channel"] != "geometry" {
			t.Fatalf("message: %v", msg)
		}
		seq := msg["seq"].(float64)
		if seq != lastSeq+1 {
			t.Fatalf("seq %v after %v", seq, lastSeq)
		}
		lastSeq = seq
		if obj := readSSE(t, sse, "message"); obj["seq"].(float64) != seq {
			t.Fatalf("SSE message %v, WebSocket had seq %v", obj, seq)
		}
	}

	// The data passes through byte for byte, and Publish reports the position.
	pos, err := hub.Publish(context.Background(), "geometry", "", []byte(`{"k": [1, 2]}`))
	if err != nil {
		t.Fatal(err)
	}
	if pos.Seq != publishers*each+1 || pos.Epoch == "" {
		t.Fatalf("position %+v", pos)
	}
	frame, err := ws.readText(hangTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(frame), `"data":{"k": [1, 2]}`) || !strings.Contains(string(frame), `"type":"message"`) {
		t.Fatalf("frame %s", frame)
	}

	if err := hub.PublishAsync("geometry", "geometry.deleted", []byte(`{"id":1}`)); err != nil {
		t.Fatal(err)
	}
	if msg, err := ws.readOp("message", hangTimeout); err != nil || msg["type"] != "geometry.deleted" {
		t.Fatalf("async message %v, %v", msg, err)
	}

	stats, err := hub.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.ConnectionsWS != 1 || stats.ConnectionsSSE != 1 || stats.MessagesPublished != publishers*each+2 {
		t.Fatalf("stats %+v", stats)
	}
	// The same counts by transport name, and none for a transport the hub does not have.
	for name, want := range map[string]uint64{"ws": 1, "sse": 1, "poll": 0} {
		ts, err := hub.TransportStats(name)
		if err != nil || ts.Connections != want || ts.Accepted != want {
			t.Fatalf("transport %s: %+v, %v", name, ts, err)
		}
	}
	if _, err := hub.TransportStats("carrier-pigeon"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown transport: %v", err)
	}

	// Closing the hub closes the WebSocket with 1001 (going away).
	resp.Body.Close()
	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := ws.readText(hangTimeout)
		var closed errWSClosed
		if errors.As(err, &closed) {
			if closed.code != 1001 {
				t.Fatalf("close code %d", closed.code)
			}
			break
		}
		if err != nil {
			t.Fatalf("want a close frame, got %v", err)
		}
	}
}

// readSSE returns the next SSE data object whose op is op.
func readSSE(t *testing.T, r *bufio.Reader, op string) map[string]any {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("SSE: %v", err)
		}
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line[len("data: "):]), &obj); err != nil {
			t.Fatalf("SSE data %q: %v", line, err)
		}
		if obj["op"] == op {
			return obj
		}
	}
}

func TestErrors(t *testing.T) {
	checkNoLeaks(t)
	hub := startHub(t, Options{})

	_, err := hub.Publish(context.Background(), "bad channel!", "", []byte(`{}`))
	var rerr *Error
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &rerr) || rerr.Detail == "" || rerr.Op != "Hub.Publish" {
		t.Fatalf("bad channel: %#v", err)
	}
	if _, err := hub.Publish(context.Background(), "ok", "", []byte(`{not json`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad JSON: %v", err)
	}
	if err := hub.Start(); !errors.Is(err, ErrState) {
		t.Fatalf("second Start: %v", err)
	}
	if !strings.Contains(ErrTimeout.Error(), "time") {
		t.Fatalf("ErrTimeout.Error() = %q", ErrTimeout.Error())
	}

	if _, err := NewHub(Options{Addr: "127.0.0.1:http-alt"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad Addr: %v", err)
	}

	// A context that already ended, and one that ends while waiting.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := hub.Publish(ctx, "ok", "", []byte(`1`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	if pos, err := hub.Publish(ctx, "ok", "", []byte(`1`)); err != nil || pos.Seq != 1 {
		t.Fatalf("Publish with a deadline: %+v %v", pos, err)
	}

	// Stop, restart, close twice, then every call says closed.
	if err := hub.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := hub.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := hub.Publish(context.Background(), "ok", "", []byte(`1`)); !errors.Is(err, ErrState) {
		t.Fatalf("Publish on a stopped hub: %v", err)
	}
	if err := hub.Start(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := hub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := hub.Start(); !errors.Is(err, ErrState) {
		t.Fatalf("Start after Close: %v", err)
	}
	if err := hub.PublishAsync("ok", "", []byte(`1`)); !errors.Is(err, ErrState) {
		t.Fatalf("PublishAsync after Close: %v", err)
	}
	if _, err := hub.Stats(); !errors.Is(err, ErrState) {
		t.Fatalf("Stats after Close: %v", err)
	}
	if hub.Port() != 0 {
		t.Fatal("Port after Close")
	}
}

// Start on a port another hub holds is ErrIO. It runs in a child process, so that a crash in
// the library is reported as this test's failure instead of ending the whole run.
func TestStartOnTakenPort(t *testing.T) {
	if os.Getenv("RTHUB_GO_TEST_CHILD") == "taken-port" {
		startOnTakenPort()
		return
	}
	checkNoLeaks(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartOnTakenPort$", "-test.v")
	cmd.Env = append(os.Environ(), "RTHUB_GO_TEST_CHILD=taken-port")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rthub_hub_start on a taken port must fail with RTHUB_ERR_IO, but the child process "+
			"failed (%v); a SIGSEGV here is the library crashing:\n%s", err, out)
	}
}

func startOnTakenPort() {
	first, err := NewHub(Options{Addr: "127.0.0.1:0"})
	if err == nil {
		err = first.Start()
	}
	if err != nil {
		panic(err)
	}
	defer first.Close()
	second, err := NewHub(Options{Addr: hubAddr(first)})
	if err != nil {
		panic(err)
	}
	defer second.Close()
	if err := second.Start(); !errors.Is(err, ErrIO) {
		panic(fmt.Sprintf("Start on a taken port: %v", err))
	}
}

// Close while publishers are waiting: they return (published or ErrState), nothing hangs.
func TestCloseDuringPublish(t *testing.T) {
	checkNoLeaks(t)
	hub := startHub(t, Options{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
			defer cancel()
			for {
				_, err := hub.Publish(ctx, "busy", "", []byte(`{"x":1}`))
				if err != nil {
					if !errors.Is(err, ErrState) {
						t.Errorf("Publish during Close: %v", err)
					}
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// The auth hooks: OnConnect refuses a token and gives rights, OnChannel refuses a subscription
// from another goroutine, later.
func TestAuthHooks(t *testing.T) {
	checkNoLeaks(t)
	var mu sync.Mutex
	var seen []ConnectInfo
	var checks []*ChannelCheck
	hub := startHub(t, Options{
		OnConnect: func(info ConnectInfo) ConnectDecision {
			mu.Lock()
			seen = append(seen, info)
			mu.Unlock()
			switch info.Token {
			case "":
				return ConnectDecision{} // the rules: anonymous
			case "alice-token":
				return Accept("alice", []string{"public:*", "secret"}, nil)
			case "panic":
				panic("a bug in the host")
			default:
				return Refuse(401)
			}
		},
		OnChannel: func(check *ChannelCheck) {
			mu.Lock()
			checks = append(checks, check)
			mu.Unlock()
			go func() { // decided later, from another goroutine
				time.Sleep(10 * time.Millisecond)
				allow := check.AllowedByRules && check.Channel != "secret"
				if err := check.Complete(allow); err != nil {
					t.Errorf("Complete: %v", err)
				}
			}()
		},
	})

	header := http.Header{"Authorization": {"Bearer bob-token"}}
	if _, err := dialWS(hubAddr(hub), "/ws", header); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("refused token: %v", err)
	}
	if _, err := dialWS(hubAddr(hub), "/ws?token=panic", nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("panicking hook: %v", err)
	}

	ws, err := dialWS(hubAddr(hub), "/ws", http.Header{"Authorization": {"Bearer alice-token"}, "Origin": {"https://map.example"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.sendJSON(map[string]any{"op": "subscribe", "channel": "secret", "id": 1})
	refused, err := ws.readOp("error", hangTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if refused["code"] != "forbidden" || refused["ref"] != 1.0 {
		t.Fatalf("refused subscription: %v", refused)
	}
	ws.sendJSON(map[string]any{"op": "subscribe", "channel": "public:news", "id": 2})
	if sub, err := ws.readOp("subscribed", hangTimeout); err != nil || sub["ref"] != 2.0 {
		t.Fatalf("allowed subscription: %v %v", sub, err)
	}
	ws.sendJSON(map[string]any{"op": "subscribe", "channel": "private", "id": 3}) // outside its rights
	if refused, err := ws.readOp("error", hangTimeout); err != nil || refused["code"] != "forbidden" {
		t.Fatalf("subscription outside the rights: %v %v", refused, err)
	}

	mu.Lock()
	defer mu.Unlock()
	var alice *ConnectInfo
	for i := range seen {
		if seen[i].Token == "alice-token" {
			alice = &seen[i]
		}
	}
	if alice == nil || alice.Transport != "ws" || alice.Origin != "https://map.example" || alice.Peer == "" || alice.TokenVerified {
		t.Fatalf("connect infos %+v", seen)
	}
	if len(checks) != 3 || checks[0].Identity != "alice" || checks[0].Action != ActionSubscribe ||
		!checks[0].AllowedByRules || checks[2].AllowedByRules {
		t.Fatalf("channel checks %+v", checks)
	}
	if err := checks[0].Allow(); !errors.Is(err, ErrState) {
		t.Fatalf("second answer: %v", err)
	}
}

// Checks that nobody answers are denied when the hub stops; answering later is ErrState, and
// nothing leaks.
func TestOpenChecksDeniedOnClose(t *testing.T) {
	checkNoLeaks(t)
	opened := make(chan *ChannelCheck, 1)
	hub := startHub(t, Options{OnChannel: func(check *ChannelCheck) { opened <- check }})
	ws, err := dialWS(hubAddr(hub), "/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.sendJSON(map[string]any{"op": "subscribe", "channel": "waits", "id": 1})
	go func() { // reads until the hub closes the connection, and answers its close
		for {
			if _, err := ws.readText(hangTimeout); err != nil {
				return
			}
		}
	}()
	var check *ChannelCheck
	select {
	case check = <-opened:
	case <-time.After(hangTimeout):
		t.Fatal("no channel check")
	}
	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := check.Allow(); !errors.Is(err, ErrState) {
		t.Fatalf("answer after Close: %v", err)
	}
}
