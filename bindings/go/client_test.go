package rthub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fastClient reconnects within a fraction of a second.
func fastClient(t *testing.T, url string, channels ...string) *Client {
	t.Helper()
	cl, err := NewClient(ClientOptions{
		URL:         url,
		Channels:    channels,
		BackoffBase: 20 * time.Millisecond,
		BackoffCap:  200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// nextEvent returns the next event that `wanted` accepts (others are skipped), or fails after
// hangTimeout: every wait here is for an event that follows an action on a loopback hub.
func nextEvent(t *testing.T, cl *Client, wanted func(Event) bool) Event {
	t.Helper()
	timeout := time.After(hangTimeout)
	for {
		select {
		case e, ok := <-cl.Events():
			if !ok {
				t.Fatal("Events closed while waiting")
			}
			if wanted(e) {
				return e
			}
		case <-timeout:
			t.Fatalf("no awaited event within %v", hangTimeout)
		}
	}
}

// next returns the next event of type T (others are skipped), or fails.
func next[T Event](t *testing.T, cl *Client) T {
	t.Helper()
	return nextEvent(t, cl, func(e Event) bool { _, ok := e.(T); return ok }).(T)
}

// either accepts events of type A or B.
func either[A, B Event](e Event) bool {
	_, a := e.(A)
	_, b := e.(B)
	return a || b
}

func hubURL(h *Hub) string { return "http://" + hubAddr(h) }

// A Go client receives what the hub publishes, publishes itself, survives a hub restart (the
// in-memory history is gone: it is told to reload with a reset) and closes cleanly.
func TestClientReceivesPublishesAndSurvivesRestart(t *testing.T) {
	checkNoLeaks(t)
	hub := startHub(t, Options{AllowClientPublish: true})
	port := hub.Port()
	cl := fastClient(t, hubURL(hub), "geometry")

	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	if err := cl.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	sub := next[Subscribed](t, cl)
	if sub.Channel != "geometry" || sub.ResumeAsked {
		t.Fatalf("subscribed %+v", sub)
	}

	for i := 1; i <= 3; i++ {
		data := fmt.Sprintf(`{"id": %d}`, i)
		if _, err := hub.Publish(ctx, "geometry", "geometry.updated", []byte(data)); err != nil {
			t.Fatal(err)
		}
		msg := next[Message](t, cl)
		if string(msg.Data) != data || msg.Type != "geometry.updated" || msg.Position.Seq != uint64(i) || msg.Time.IsZero() {
			t.Fatalf("message %d: %+v", i, msg)
		}
	}

	// The client publishes and waits for the position; the message comes back to it too.
	pos, err := cl.Publish(ctx, "geometry", "geometry.created", []byte(`{"id":4}`))
	if err != nil || pos.Seq != 4 {
		t.Fatalf("client Publish: %+v %v", pos, err)
	}
	if msg := next[Message](t, cl); msg.Position.Seq != 4 || msg.Type != "geometry.created" {
		t.Fatalf("own message %+v", msg)
	}
	// An asynchronous publish reports on Events.
	id, err := cl.PublishAsync("geometry", "", []byte(`5`))
	if err != nil || id == 0 {
		t.Fatalf("PublishAsync: %d %v", id, err)
	}
	if ev := next[Published](t, cl); ev.RequestID != id || ev.Position.Seq != 5 {
		t.Fatalf("published %+v", ev)
	}
	if _, err := cl.PublishAsync("bad channel!", "", []byte(`1`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PublishAsync on a bad channel: %v", err)
	}

	// The hub goes away and comes back on the same port, with a new epoch.
	oldEpoch := pos.Epoch
	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	next[StateChange](t, cl) // disconnected (or connecting): the link is gone
	hub = startHub(t, Options{Addr: "127.0.0.1:" + strconv.Itoa(port), AllowClientPublish: true})
	reset := next[Reset](t, cl)
	if reset.Channel != "geometry" || reset.Position.Epoch == oldEpoch {
		t.Fatalf("reset %+v", reset)
	}
	if _, err := hub.Publish(ctx, "geometry", "geometry.updated", []byte(`{"after":"restart"}`)); err != nil {
		t.Fatal(err)
	}
	if msg := next[Message](t, cl); string(msg.Data) != `{"after":"restart"}` || msg.Position.Seq != 1 {
		t.Fatalf("message after the restart %+v", msg)
	}
	counters, err := cl.Counters()
	if err != nil || counters.Connects < 2 || counters.Reconnects < 1 || counters.Resets != 1 {
		t.Fatalf("counters %+v %v", counters, err)
	}

	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for range cl.Events() { // closed after Close: the range ends
	}
	if err := cl.Subscribe("more"); !errors.Is(err, ErrState) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if _, err := cl.Publish(ctx, "geometry", "", []byte(`1`)); !errors.Is(err, ErrState) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

// With Redis behind the hub, history outlives a hub restart: the client resumes exactly, with
// the messages published while it was away and no reset.
func TestClientResumesExactlyAcrossRestartWithRedis(t *testing.T) {
	redisURL := startRedis(t)
	checkNoLeaks(t)
	hub := startHub(t, Options{RedisURL: redisURL})
	waitHealthy(t, hub)
	port := hub.Port()
	cl := fastClient(t, hubURL(hub), "incidents")
	next[Subscribed](t, cl)
	ctx := context.Background()
	first, err := hub.Publish(ctx, "incidents", "incident.created", []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if msg := next[Message](t, cl); msg.Position != first {
		t.Fatalf("first message %+v, published at %+v", msg, first)
	}

	hub.Close()
	// Another node of the same hub takes messages while the client is away.
	other := startHub(t, Options{RedisURL: redisURL})
	waitHealthy(t, other)
	for n := 2; n <= 3; n++ {
		if _, err := other.Publish(ctx, "incidents", "incident.created", []byte(fmt.Sprintf(`{"n":%d}`, n))); err != nil {
			t.Fatal(err)
		}
	}
	startHub(t, Options{Addr: "127.0.0.1:" + strconv.Itoa(port), RedisURL: redisURL})
	ev := nextEvent(t, cl, either[Subscribed, Reset])
	if sub, ok := ev.(Subscribed); !ok || !sub.ResumeAsked || !sub.Recovered {
		t.Fatalf("resume: %+v", ev)
	}
	for n := 2; n <= 3; n++ {
		ev := nextEvent(t, cl, either[Message, Reset])
		if msg, ok := ev.(Message); !ok || string(msg.Data) != fmt.Sprintf(`{"n":%d}`, n) || msg.Position.Seq != first.Seq+uint64(n-1) {
			t.Fatalf("replayed message %d: %+v", n, ev)
		}
	}
}

// waitHealthy waits until GET /healthz answers 200: in Redis mode, until the broker is connected.
func waitHealthy(t *testing.T, h *Hub) {
	t.Helper()
	for deadline := time.Now().Add(hangTimeout); ; {
		resp, err := http.Get(hubURL(h) + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub not healthy: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startRedis runs a redis-server on a free port in a temporary directory. tests/run.sh installs
// redis-server: without it the test fails (naming the package), it is never skipped.
func startRedis(t *testing.T) string {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not installed (Debian package: redis-server): the Redis resume test needs it")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no")
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	for deadline := time.Now().Add(hangTimeout); ; {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "redis://127.0.0.1:" + strconv.Itoa(port)
}

// The hub refuses a client publish (anonymous clients may not publish by default): Publish
// returns the hub's error code.
func TestClientPublishRefused(t *testing.T) {
	checkNoLeaks(t)
	hub := startHub(t, Options{})
	cl := fastClient(t, hubURL(hub))
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	if err := cl.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := cl.Publish(ctx, "geometry", "", []byte(`{}`))
	var refused *RequestError
	if !errors.As(err, &refused) || refused.Code != "forbidden" {
		t.Fatalf("refused publish: %v", err)
	}
	// A deadline that ends first.
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if _, err := cl.Publish(short, "geometry", "", []byte(`{}`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Publish: %v", err)
	}
}

// A client whose program never reads Events still closes promptly, and so does one that never
// connected.
func TestClientCloseWithoutReading(t *testing.T) {
	checkNoLeaks(t)
	hub := startHub(t, Options{})
	cl, err := NewClient(ClientOptions{URL: hubURL(hub), Channels: []string{"noise"}, EventBuffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	if err := cl.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		hub.PublishAsync("noise", "", []byte(strconv.Itoa(i)))
	}
	time.Sleep(100 * time.Millisecond)
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}

	nowhere, err := NewClient(ClientOptions{URL: "http://127.0.0.1:9", BackoffBase: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if err := nowhere.WaitConnected(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitConnected to nowhere: %v", err)
	}
	if err := nowhere.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := NewClient(ClientOptions{URL: "not a url"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad URL: %v", err)
	}
}

// A third-party client, Node's `ws` package (from tests/node_modules), talks to the Go-embedded
// hub: it subscribes, the test publishes from a goroutine, the client prints what it got.
func TestNodeWebSocketClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not installed (Debian package: nodejs)")
	}
	modules, _ := filepath.Abs(filepath.Join("..", "..", "tests", "node_modules"))
	if _, err := os.Stat(filepath.Join(modules, "ws")); err != nil {
		t.Fatal("tests/node_modules/ws missing (npm ci in tests/, which tests/run.sh does)")
	}
	checkNoLeaks(t)
	hub := startHub(t, Options{})
	script := `
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[1]);
ws.on('open', () => ws.send(JSON.stringify({op: 'subscribe', channel: 'geometry', id: 1})));
ws.on('message', (raw) => {
  const obj = JSON.parse(raw.toString());
  if (obj.op === 'subscribed') console.log('SUBSCRIBED');
  if (obj.op === 'message') { console.log('MESSAGE ' + JSON.stringify(obj)); ws.close(1000); }
});
ws.on('close', (code) => { console.log('CLOSED ' + code); process.exit(0); });
ws.on('error', (err) => { console.error(err.message); process.exit(1); });
setTimeout(() => { console.error('timeout'); process.exit(2); }, 10000);
`
	cmd := exec.Command(node, "-e", script, "ws://"+hubAddr(hub)+"/ws")
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		buf := make([]byte, 4096)
		var pending string
		for {
			n, err := stdout.Read(buf)
			pending += string(buf[:n])
			for {
				i := strings.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				lines <- pending[:i]
				pending = pending[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	var got []string
	for line := range lines {
		got = append(got, line)
		if line == "SUBSCRIBED" {
			go hub.Publish(context.Background(), "geometry", "geometry.updated", []byte(`{"from":"go"}`))
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node client: %v\n%s\n%s", err, strings.Join(got, "\n"), stderr.String())
	}
	if len(got) != 3 || !strings.Contains(got[1], `"data":{"from":"go"}`) || got[2] != "CLOSED 1000" {
		t.Fatalf("node client printed:\n%s", strings.Join(got, "\n"))
	}
}
