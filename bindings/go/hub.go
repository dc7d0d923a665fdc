package rthub

/*
#include <stdint.h>
#include <stdlib.h>
#include <rthub/rthub.h>

// The Go trampolines of callbacks.go. rthub.h passes const info structs and user_data as a
// void*; the adapters below give the trampolines plain pointers and the cgo.Handle as an integer
// (a Go pointer never crosses into C).
extern void rthubGoOnConnect(rthub_connect_info *info, rthub_connect_answer *answer, uintptr_t hooks);
extern void rthubGoOnChannel(rthub_channel_info *info, rthub_channel_check *check, uintptr_t hooks);

static void rthub_go_on_connect(const rthub_connect_info *info, rthub_connect_answer *answer, void *user_data) {
	rthubGoOnConnect((rthub_connect_info *)info, answer, (uintptr_t)user_data);
}

static void rthub_go_on_channel(const rthub_channel_info *info, rthub_channel_check *check, void *user_data) {
	rthubGoOnChannel((rthub_channel_info *)info, check, (uintptr_t)user_data);
}

static rthub_err rthub_go_set_auth(rthub_hub *hub, int on_connect, int on_channel, uintptr_t hooks) {
	return rthub_hub_set_auth(hub, on_connect ? rthub_go_on_connect : NULL,
	                          on_channel ? rthub_go_on_channel : NULL, (void *)hooks);
}

static void rthub_go_stats_init(rthub_stats *stats) { stats->struct_size = sizeof *stats; }

static void rthub_go_transport_stats_init(rthub_transport_stats *stats) {
	stats->struct_size = sizeof *stats;
}

extern void rthubGoPublishDone(rthub_err err, rthub_position *position, uintptr_t waiter);

static void rthub_go_publish_done(rthub_err err, const rthub_position *position, void *user_data) {
	rthubGoPublishDone(err, (rthub_position *)position, (uintptr_t)user_data);
}

// rthub_hub_publish_async with rthubGoPublishDone as the completion and a cgo.Handle as its
// user_data.
static rthub_err rthub_go_publish_async(rthub_hub *hub, const char *channel, const char *type, const char *data,
                                        size_t data_len, const rthub_publish_options *options, uintptr_t waiter) {
	return rthub_hub_publish_async(hub, channel, type, data, data_len, options, rthub_go_publish_done,
	                               (void *)waiter);
}
*/
import "C"

import (
	"context"
	"net"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Version is the version of the linked library (rthub_version), "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.rthub_version()) }

// Options are the settings of a Hub. The zero value serves on 127.0.0.1:8080 with the library's
// defaults; a zero field keeps the library's default.
type Options struct {
	// Addr is "host:port" to listen on. "" means "127.0.0.1:8080"; an empty host (":8080") means
	// every interface; port 0 picks a free port (see Hub.Port).
	Addr string
	// StaticDir, when set, is served at "/".
	StaticDir string
	// HistorySize is how many messages each channel retains for resuming clients (0: the default,
	// 1000; NoHistory keeps none), HistoryTTL for how long at most (default 5 minutes, whole
	// seconds).
	HistorySize int
	HistoryTTL  time.Duration
	// Heartbeat is how long a stream may stay idle before the hub pings it (default 25 s).
	Heartbeat time.Duration
	// PublishKey is the Bearer key POST /publish requires; "" lets loopback peers only publish.
	PublishKey string
	// Limits: WebSocket frames and publish bodies (default 64 KiB), a session's outbound queue
	// (default 1 MiB), connections (0: no limit), subscriptions per connection (default 1024).
	MaxMessageBytes     int
	MaxQueueBytes       int
	MaxConnections      int
	MaxConnectionsPerIP int
	MaxSubscriptions    int
	// JWTSecret, when set, makes every connection present a valid HS256 token.
	JWTSecret string
	// AllowClientPublish lets anonymous WebSocket clients publish.
	AllowClientPublish bool
	// AllowedOrigins is the Origin allow list of WebSocket handshakes and CORS ("*": any); nil: any.
	AllowedOrigins []string
	// MaxConnectRate limits new connections per second per address; 0: no limit.
	MaxConnectRate float64
	// TLSCertFile and TLSKeyFile (PEM) make the hub serve https:// and wss://.
	TLSCertFile, TLSKeyFile string
	// RedisURL (redis://[:password@]host:port[/db]) makes many nodes one hub; "": in memory.
	RedisURL string
	// BridgeChannels are Redis channels whose plain PUBLISHes the hub ingests.
	BridgeChannels []string
	// SSERetry is the reconnect delay an SSE stream tells browsers ("retry:"), default 2 s.
	SSERetry time.Duration
	// Shards is the number of service threads accepting on the one port (SO_REUSEPORT), 1 to 64;
	// 0 means 1.
	Shards int
	// RedisCluster are Redis Cluster seed nodes ("host:port").
	RedisCluster []string
	// IdempotencyWindow is how long a publish's idempotency key is remembered (default 5
	// minutes, whole seconds).
	IdempotencyWindow time.Duration
	// PostgresConninfo (a libpq connection string or URI) keeps history in PostgreSQL too.
	PostgresConninfo string
	// PersistPatterns are the channels kept in PostgreSQL (a trailing '*' matches a prefix); nil:
	// every channel. PersistTTL deletes older messages (0: kept); PersistBuffer is how many
	// messages wait while PostgreSQL is away (default 100000).
	PersistPatterns []string
	PersistTTL      time.Duration
	PersistBuffer   int
	// MaxKeys is how many keys (keyed messages) a channel may hold, default 10000; a publish of a
	// new key past it is refused, never evicting one.
	MaxKeys int
	// PollTimeout is how long GET /poll holds a request with nothing to send, default 25 s; a
	// poller silent for twice as long is forgotten. Whole seconds, rounded up.
	PollTimeout time.Duration

	// OnConnect, when set, decides each new connection before its upgrade or stream. It runs on
	// the hub's service thread and must return quickly. The zero ConnectDecision lets the JWT
	// rules decide. A panic refuses the connection (403).
	OnConnect func(info ConnectInfo) ConnectDecision
	// OnChannel, when set, receives every subscribe and client publish. It runs on the hub's
	// service thread and must not block: answer with check.Allow or check.Deny, now or later
	// from any goroutine. Until then the request waits. Checks still open when the hub stops are
	// denied. A panic denies the check.
	OnChannel func(check *ChannelCheck)
}

// NoHistory is the HistorySize of a hub that keeps no message for resuming clients.
const NoHistory = -1

// PublishOptions are the settings of one publish.
type PublishOptions struct {
	// IdempotencyKey (at most 128 bytes), when set: a repeat with the same key on the same
	// channel within the hub's IdempotencyWindow is answered with the first one's position and not
	// published again. Retry a publish that failed with ErrUnknownOutcome with the same key.
	IdempotencyKey string
	// Key (at most 256 bytes), when set: the channel keeps this message as the key's latest, sent
	// to subscribers that ask for a snapshot. With DeleteKey the message removes the key instead
	// (it is still delivered live, with "delete":true).
	Key       string
	DeleteKey bool
}

// Position is where a message sits in its channel: Seq increases by one per message, Epoch
// changes whenever the channel's numbering restarts.
type Position struct {
	Epoch string
	Seq   uint64
}

// Stats are a hub's counters and gauges, the numbers of GET /metrics.
type Stats struct {
	ConnectionsWS, ConnectionsSSE          uint64 // open now
	AcceptedWS, AcceptedSSE                uint64 // since start
	Subscriptions, Channels                uint64 // now
	MessagesPublished, Deliveries          uint64 // since start
	BytesSent                              uint64
	ResumesRecovered, ResumesLost          uint64
	SlowConsumersDropped                   uint64
	Errors                                 uint64 // error objects and statuses sent
	HistoryBytes                           uint64 // retained now
	AuthFailures, Reconnects, SSEFallbacks uint64
}

// Hub is an rthub node embedded in this process: it serves /ws, /events, /publish, /metrics and
// /healthz on one port. Its methods may be called from any goroutine, except Stop and Close from
// inside OnConnect or OnChannel (they wait for the service thread those run on).
type Hub struct {
	// lifecycle orders Start, Stop and Close; only Close, holding it, sets c to nil.
	lifecycle sync.Mutex
	// mu is held for reading by the other calls into C, and for writing to change c or stopping.
	mu       sync.RWMutex
	c        *C.rthub_hub // nil once closed
	stopping bool         // Stop is under way: publishes are refused
	hooks    *hubHooks    // nil without OnConnect and OnChannel
	handle   cgo.Handle   // the user_data of the C hooks: refers to hooks
}

// NewHub creates a hub that does not serve yet; call Start. Release it with Close.
func NewHub(opts Options) (*Hub, error) {
	var copts C.rthub_hub_options
	if err := call("NewHub", func() C.rthub_err {
		return C.rthub_hub_options_init(&copts, C.size_t(unsafe.Sizeof(copts)))
	}); err != nil {
		return nil, err
	}
	var strs cStrings
	defer strs.free()

	host, port := "127.0.0.1", 8080
	if opts.Addr != "" {
		h, p, err := net.SplitHostPort(opts.Addr)
		if err != nil {
			return nil, &Error{Op: "NewHub", Code: ErrInvalid, Detail: "Addr: " + err.Error()}
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return nil, &Error{Op: "NewHub", Code: ErrInvalid, Detail: "Addr: bad port " + strconv.Quote(p)}
		}
		host, port = h, n
		if host == "" {
			host = "0.0.0.0"
		}
	}
	copts.listen_host = strs.add(host)
	copts.port = C.int(port)
	copts.static_dir = strs.addOptional(opts.StaticDir)
	if opts.HistorySize > 0 {
		copts.history_size = C.size_t(opts.HistorySize)
	} else if opts.HistorySize < 0 {
		copts.history_size = 0
	}
	if opts.HistoryTTL > 0 {
		copts.history_ttl_seconds = C.int(seconds(opts.HistoryTTL))
	}
	if opts.Heartbeat > 0 {
		copts.heartbeat_seconds = C.int(seconds(opts.Heartbeat))
	}
	copts.publish_key = strs.addOptional(opts.PublishKey)
	if opts.MaxMessageBytes > 0 {
		copts.max_message_bytes = C.size_t(opts.MaxMessageBytes)
	}
	if opts.MaxQueueBytes > 0 {
		copts.max_queue_bytes = C.size_t(opts.MaxQueueBytes)
	}
	if opts.MaxConnections > 0 {
		copts.max_connections = C.size_t(opts.MaxConnections)
	}
	if opts.MaxConnectionsPerIP > 0 {
		copts.max_connections_per_ip = C.size_t(opts.MaxConnectionsPerIP)
	}
	if opts.MaxSubscriptions > 0 {
		copts.max_subscriptions = C.size_t(opts.MaxSubscriptions)
	}
	copts.jwt_secret = strs.addOptional(opts.JWTSecret)
	if opts.AllowClientPublish {
		copts.allow_client_publish = 1
	}
	copts.allowed_origins = strs.addOptional(strings.Join(opts.AllowedOrigins, ","))
	copts.max_connect_rate = C.double(opts.MaxConnectRate)
	copts.tls_cert = strs.addOptional(opts.TLSCertFile)
	copts.tls_key = strs.addOptional(opts.TLSKeyFile)
	copts.redis_url = strs.addOptional(opts.RedisURL)
	copts.bridge_channels = strs.addOptional(strings.Join(opts.BridgeChannels, ","))
	if opts.SSERetry > 0 {
		copts.sse_retry_ms = C.int((opts.SSERetry + time.Millisecond - 1) / time.Millisecond)
	}
	if opts.Shards > 0 {
		copts.shards = C.int(opts.Shards)
	}
	copts.redis_cluster = strs.addOptional(strings.Join(opts.RedisCluster, ","))
	if opts.IdempotencyWindow > 0 {
		copts.idempotency_window_seconds = C.int(seconds(opts.IdempotencyWindow))
	}
	copts.postgres_conninfo = strs.addOptional(opts.PostgresConninfo)
	copts.persist_patterns = strs.addOptional(strings.Join(opts.PersistPatterns, ","))
	if opts.PersistTTL > 0 {
		copts.persist_ttl_seconds = C.int(seconds(opts.PersistTTL))
	}
	if opts.PersistBuffer > 0 {
		copts.persist_buffer = C.size_t(opts.PersistBuffer)
	}
	if opts.PollTimeout > 0 {
		copts.poll_timeout_seconds = C.int64_t((opts.PollTimeout + time.Second - 1) / time.Second)
	}
	if opts.MaxKeys > 0 {
		copts.max_keys = C.size_t(opts.MaxKeys)
	}

	h := &Hub{}
	if err := call("NewHub", func() C.rthub_err { return C.rthub_hub_new(&copts, &h.c) }); err != nil {
		return nil, err
	}
	liveObjects.Add(1)
	if opts.OnConnect != nil || opts.OnChannel != nil {
		h.hooks = &hubHooks{onConnect: opts.OnConnect, onChannel: opts.OnChannel, pending: map[*ChannelCheck]struct{}{}}
		h.handle = cgo.NewHandle(h.hooks)
		liveObjects.Add(1)
		err := call("NewHub", func() C.rthub_err {
			return C.rthub_go_set_auth(h.c, cBool(opts.OnConnect != nil), cBool(opts.OnChannel != nil), C.uintptr_t(h.handle))
		})
		if err != nil {
			h.Close()
			return nil, err
		}
	}
	return h, nil
}

// Start binds the port and starts the hub's service thread. ErrIO when the port cannot be bound,
// ErrState when already started.
func (h *Hub) Start() error {
	h.lifecycle.Lock()
	defer h.lifecycle.Unlock()
	if h.c == nil { // only Close, which holds lifecycle too, changes c
		return errClosed("Hub.Start")
	}
	return call("Hub.Start", func() C.rthub_err { return C.rthub_hub_start(h.c) })
}

// Stop closes every connection (WebSocket close 1001) and stops serving. A Publish waiting for
// its position returns it, or ErrState when the hub stopped before taking the message; later
// publishes return ErrState until Start is called again. Stopping a stopped hub does nothing.
func (h *Hub) Stop() error {
	h.lifecycle.Lock()
	defer h.lifecycle.Unlock()
	if h.c == nil {
		return errClosed("Hub.Stop")
	}
	return h.stopLocked()
}

// stopLocked stops the C hub; h.lifecycle is held, so h.c stays valid.
func (h *Hub) stopLocked() error {
	// Calls into C finish before the hub stops, and new ones are refused. A Publish waiting for
	// its position gets its completion while the hub stops (the library promises one per publish).
	h.mu.Lock()
	h.stopping = true
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.stopping = false
		h.mu.Unlock()
	}()
	// Open channel checks are denied while the hub can still take their answers: a completion
	// given after the hub stopped would reach a service loop that no longer exists.
	if h.hooks != nil {
		h.hooks.beginStop()
		defer h.hooks.endStop()
	}
	return call("Hub.Stop", func() C.rthub_err { return C.rthub_hub_stop(h.c) })
}

// Close stops the hub and frees it; waiting publishes return as with Stop. Calling Close again
// does nothing; other methods then return ErrState.
func (h *Hub) Close() error {
	h.lifecycle.Lock()
	defer h.lifecycle.Unlock()
	if h.c == nil {
		return nil
	}
	err := h.stopLocked()
	h.mu.Lock()
	C.rthub_hub_free(h.c)
	h.c = nil
	h.mu.Unlock()
	liveObjects.Add(-1)
	if h.hooks != nil {
		h.handle.Delete() // after rthub_hub_free: no hook can run any more
		liveObjects.Add(-1)
		h.hooks = nil
	}
	return err
}

// usable says why calls cannot go into C now (h.mu held for reading), or nil.
func (h *Hub) usable(op string) error {
	if h.c == nil {
		return errClosed(op)
	}
	if h.stopping {
		return &Error{Op: op, Code: ErrState, Detail: "the hub is stopping"}
	}
	return nil
}

// Port is the bound port of a started hub, or 0.
func (h *Hub) Port() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.c == nil {
		return 0
	}
	return int(C.rthub_hub_port(h.c))
}

// Publish publishes data (one JSON value, passed to subscribers untouched) as typ ("" means
// "message") on channel, and waits until the message has its position. When ctx ends first,
// Publish returns ctx.Err() at once; the message may still be published, and nothing is left
// waiting for it (no goroutine, no thread). Safe from any goroutine, but not from OnConnect or
// OnChannel (use PublishAsync there). ErrUnknownOutcome: the message may or may not have been
// published; retry with PublishWithOptions and an idempotency key.
func (h *Hub) Publish(ctx context.Context, channel, typ string, data []byte) (Position, error) {
	return h.PublishWithOptions(ctx, channel, typ, data, PublishOptions{})
}

// PublishWithOptions is Publish with per-publish options.
func (h *Hub) PublishWithOptions(ctx context.Context, channel, typ string, data []byte, opts PublishOptions) (Position, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, err
	}
	// The library calls rthubGoPublishDone exactly once, on its service thread, with the outcome;
	// the channel has room for it, so that the call never blocks even when nobody waits any more.
	outcome := make(chan publishOutcome, 1)
	handle := cgo.NewHandle(outcome)
	liveObjects.Add(1)
	err := h.withPublishArgs("Hub.Publish", channel, typ, data, opts, func(msg *cMessage, copts *C.rthub_publish_options) C.rthub_err {
		return C.rthub_go_publish_async(h.c, msg.channel, msg.typ, msg.data, msg.dataLen, copts, C.uintptr_t(handle))
	})
	if err != nil { // refused: the completion will never come
		handle.Delete()
		liveObjects.Add(-1)
		return Position{}, err
	}
	select {
	case o := <-outcome:
		if o.code != 0 {
			return Position{}, &Error{Op: "Hub.Publish", Code: o.code, Detail: publishFailure(o.code)}
		}
		return o.pos, nil
	case <-ctx.Done():
		return Position{}, ctx.Err()
	}
}

// publishOutcome is what a completion of rthub_hub_publish_async reports.
type publishOutcome struct {
	pos  Position
	code Code // 0: published
}

func publishFailure(code Code) string {
	switch code {
	case ErrState:
		return "the hub stopped before taking the message"
	case ErrUnknownOutcome:
		return "the message may or may not have been published"
	case ErrUnavailable:
		return "the broker cannot take the message now; it was not published"
	}
	return ""
}

// withPublishArgs copies a publish's arguments into C memory and makes the C call `fn` with them,
// holding h.mu for reading so that the hub stays valid during the call.
func (h *Hub) withPublishArgs(op, channel, typ string, data []byte, opts PublishOptions,
	fn func(msg *cMessage, copts *C.rthub_publish_options) C.rthub_err) error {
	msg := newCMessage(channel, typ, data)
	defer msg.free()
	var copts C.rthub_publish_options
	if err := call(op, func() C.rthub_err {
		return C.rthub_publish_options_init(&copts, C.size_t(unsafe.Sizeof(copts)))
	}); err != nil {
		return err
	}
	if opts.IdempotencyKey != "" {
		key := C.CString(opts.IdempotencyKey)
		defer C.free(unsafe.Pointer(key))
		copts.idempotency_key = key
	}
	if opts.Key != "" {
		key := C.CString(opts.Key)
		defer C.free(unsafe.Pointer(key))
		copts.key = key
	}
	if opts.DeleteKey {
		copts.flags |= C.RTHUB_PUBLISH_DELETE_KEY
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if err := h.usable(op); err != nil {
		return err
	}
	return call(op, func() C.rthub_err { return fn(msg, &copts) })
}

// PublishAsync checks and queues a message without waiting for its position. Safe from any
// goroutine, including OnConnect and OnChannel.
func (h *Hub) PublishAsync(channel, typ string, data []byte) error {
	return h.PublishAsyncWithOptions(channel, typ, data, PublishOptions{})
}

// PublishAsyncWithOptions is PublishAsync with per-publish options.
func (h *Hub) PublishAsyncWithOptions(channel, typ string, data []byte, opts PublishOptions) error {
	return h.withPublishArgs("Hub.PublishAsync", channel, typ, data, opts, func(msg *cMessage, copts *C.rthub_publish_options) C.rthub_err {
		return C.rthub_hub_publish_with_options(h.c, msg.channel, msg.typ, msg.data, msg.dataLen, copts, nil)
	})
}

// Stats takes a snapshot of the hub's counters.
func (h *Hub) Stats() (Stats, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.c == nil {
		return Stats{}, errClosed("Hub.Stats")
	}
	var s C.rthub_stats
	C.rthub_go_stats_init(&s)
	if err := call("Hub.Stats", func() C.rthub_err { return C.rthub_hub_stats(h.c, &s) }); err != nil {
		return Stats{}, err
	}
	return Stats{
		ConnectionsWS: uint64(s.connections_ws), ConnectionsSSE: uint64(s.connections_sse),
		AcceptedWS: uint64(s.accepted_ws), AcceptedSSE: uint64(s.accepted_sse),
		Subscriptions: uint64(s.subscriptions), Channels: uint64(s.channels),
		MessagesPublished: uint64(s.messages_published), Deliveries: uint64(s.deliveries),
		BytesSent:        uint64(s.bytes_sent),
		ResumesRecovered: uint64(s.resumes_recovered), ResumesLost: uint64(s.resumes_lost),
		SlowConsumersDropped: uint64(s.slow_consumers_dropped),
		Errors:               uint64(s.errors),
		HistoryBytes:         uint64(s.history_bytes),
		AuthFailures:         uint64(s.auth_failures), Reconnects: uint64(s.reconnects),
		SSEFallbacks: uint64(s.sse_fallbacks),
	}, nil
}

// TransportStats are one transport's counts, the numbers of its transport="NAME" series in
// GET /metrics.
type TransportStats struct {
	Connections uint64 // open now (pollers: those whose state the hub keeps)
	Accepted    uint64 // since start
	Reconnects  uint64 // connections that came back asking to resume
	Fallbacks   uint64 // connections marked as a fallback from another transport
}

// TransportStats takes a snapshot of the counts of the transport named name ("ws", "sse",
// "poll"); ErrInvalid when the hub has no such transport.
func (h *Hub) TransportStats(name string) (TransportStats, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.c == nil {
		return TransportStats{}, errClosed("Hub.TransportStats")
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var s C.rthub_transport_stats
	C.rthub_go_transport_stats_init(&s)
	if err := call("Hub.TransportStats", func() C.rthub_err {
		return C.rthub_hub_transport_stats(h.c, cname, &s)
	}); err != nil {
		return TransportStats{}, err
	}
	return TransportStats{
		Connections: uint64(s.connections), Accepted: uint64(s.accepted),
		Reconnects: uint64(s.reconnects), Fallbacks: uint64(s.fallbacks),
	}, nil
}

// cMessage is a publish's arguments in C memory (cgo may not pass Go memory that C keeps past
// the call; the library copies them before it returns).
type cMessage struct {
	channel, typ, data *C.char
	dataLen            C.size_t
}

func newCMessage(channel, typ string, data []byte) *cMessage {
	m := &cMessage{channel: C.CString(channel), dataLen: C.size_t(len(data))}
	if typ != "" {
		m.typ = C.CString(typ)
	}
	m.data = (*C.char)(C.CBytes(data)) // never NULL: CBytes allocates at least one byte
	return m
}

func (m *cMessage) free() {
	C.free(unsafe.Pointer(m.channel))
	C.free(unsafe.Pointer(m.typ))
	C.free(unsafe.Pointer(m.data))
}

// cStrings collects C copies of strings that live until free.
type cStrings []unsafe.Pointer

func (s *cStrings) add(v string) *C.char {
	p := C.CString(v)
	*s = append(*s, unsafe.Pointer(p))
	return p
}

// addOptional gives NULL for "" (the library's default).
func (s *cStrings) addOptional(v string) *C.char {
	if v == "" {
		return nil
	}
	return s.add(v)
}

// array copies list into a C array of C strings (NULL for an empty list).
func (s *cStrings) array(list []string) (**C.char, C.size_t) {
	if len(list) == 0 {
		return nil, 0
	}
	arr := C.malloc(C.size_t(len(list)) * C.size_t(unsafe.Sizeof((*C.char)(nil))))
	*s = append(*s, arr)
	items := unsafe.Slice((**C.char)(arr), len(list))
	for i, v := range list {
		items[i] = s.add(v)
	}
	return (**C.char)(arr), C.size_t(len(list))
}

func (s *cStrings) free() {
	for _, p := range *s {
		C.free(p)
	}
	*s = nil
}

func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// seconds rounds a positive duration up to whole seconds.
func seconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
