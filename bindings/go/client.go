package rthub

/*
#include <stdlib.h>
#include <string.h>
#include <rthub/rthub.h>

static void rthub_go_counters_init(rthub_client_counters *c) { c->struct_size = sizeof *c; }

static void rthub_go_set_position(rthub_position *p, const char *epoch, size_t len, uint64_t seq) {
	memset(p->epoch, 0, sizeof p->epoch);
	if (len > sizeof p->epoch - 1) len = sizeof p->epoch - 1;
	memcpy(p->epoch, epoch, len);
	p->seq = seq;
}
*/
import "C"

import (
	"context"
	"sync"
	"time"
	"unsafe"
)

// ClientOptions are the settings of a Client. Only URL is required; a zero field keeps the
// library's default.
type ClientOptions struct {
	// URL is the hub's base URL: http(s)://host:port[/prefix].
	URL string
	// Channels are subscribed from the start (more with Subscribe).
	Channels []string
	// Token is sent as "Authorization: Bearer" on /ws and /events.
	Token string
	// PublishKey is the Bearer key for POST /publish (publishing while on SSE); "": Token.
	PublishKey string
	// SSEOnly never tries WebSocket.
	SSEOnly bool
	// Snapshot and Presence subscribe Channels the way SubscribeOptions says.
	Snapshot, Presence bool
	// PollOnly uses HTTP long-polling (/poll) only, never WebSocket or SSE.
	PollOnly bool
	// SSESilence: an event stream that brings nothing this long after it opened is left for
	// long-polling (default 5 s; not with SSEOnly).
	SSESilence time.Duration
	// Reconnect backoff: attempt n waits a random delay in [0, min(BackoffCap, BackoffBase*2^n)]
	// (defaults 500 ms and 30 s, whole milliseconds). MaxAttempts consecutive failures end the
	// client (a StateClosed event); 0: try forever.
	BackoffBase, BackoffCap time.Duration
	MaxAttempts             int
	// Heartbeat is the hub's heartbeat (default 25 s); Watchdog the silence that ends a
	// connection (default twice the heartbeat).
	Heartbeat, Watchdog time.Duration
	// HandshakeTimeout fails a handshake unanswered this long (default 10 s).
	HandshakeTimeout time.Duration
	// WebSocketRetry: after a fallback to SSE, try WebSocket again this often (default 60 s).
	WebSocketRetry time.Duration
	// CAFile holds PEM CA certificates trusted for https:// besides the system store.
	CAFile string
	// InsecureSkipVerifyForTests accepts any server certificate. Tests only.
	InsecureSkipVerifyForTests bool
	// MaxPendingEvents: past this many events waiting in the library, the client stops reading
	// from the hub until the program catches up (default 10000).
	MaxPendingEvents int
	// EventBuffer is the capacity of the Events channel (default 64).
	EventBuffer int
}

// RequestError is the hub's refusal of a request (an error event), as Publish returns it.
type RequestError struct {
	Code    string // forbidden, bad_request, unavailable, ...
	Message string
}

func (e *RequestError) Error() string { return "rthub: " + e.Code + ": " + e.Message }

// Client is a reconnecting client of a hub: WebSocket first, SSE when WebSocket cannot pass,
// backoff, heartbeat watchdog and exact resume. It is running from NewClient until Close; every
// method is safe from any goroutine.
//
// Events arrive, in order, on the channel Events returns. Read it: while it is full, the client
// stops taking events from the library, which after MaxPendingEvents stops reading from the hub.
type Client struct {
	mu      sync.RWMutex          // held for reading by calls into C, for writing by Close
	c       *C.rthub_client       // nil once closed
	closing chan struct{}         // closed by Close: the poll goroutine stops delivering
	events  chan Event            // closed by the poll goroutine when it ends
	polled  chan struct{}         // closed when the poll goroutine has ended
	once    sync.Once             // Close
	state   sync.Mutex            // guards waiters, connected
	waiters map[uint64]chan Event // a waiting Publish's outcome: Published or ErrorEvent
	// connected is closed at the first StateConnected event; replaced by a new channel at
	// each disconnection.
	connected   chan struct{}
	isConnected bool
}

// NewClient creates a client and starts it: it connects in the background. Release it with Close.
func NewClient(opts ClientOptions) (*Client, error) {
	var strs cStrings
	defer strs.free()
	var copts C.rthub_client_options
	if err := callFresh("NewClient", func() C.rthub_err {
		return C.rthub_client_options_init(&copts, C.size_t(unsafe.Sizeof(copts)))
	}); err != nil {
		return nil, err
	}
	copts.url = strs.add(opts.URL)
	copts.channels, copts.channel_count = strs.array(opts.Channels)
	copts.token = strs.addOptional(opts.Token)
	copts.publish_key = strs.addOptional(opts.PublishKey)
	copts.sse_only = cBool(opts.SSEOnly)
	copts.snapshot = cBool(opts.Snapshot)
	copts.presence = cBool(opts.Presence)
	copts.poll_only = cBool(opts.PollOnly)
	setMillis(&copts.sse_silence_ms, opts.SSESilence)
	setMillis32(&copts.backoff_base_ms, opts.BackoffBase)
	setMillis32(&copts.backoff_cap_ms, opts.BackoffCap)
	if opts.MaxAttempts > 0 {
		copts.max_attempts = C.uint32_t(opts.MaxAttempts)
	}
	if opts.Heartbeat > 0 {
		copts.heartbeat_seconds = C.int(seconds(opts.Heartbeat))
	}
	setMillis(&copts.watchdog_ms, opts.Watchdog)
	setMillis(&copts.handshake_timeout_ms, opts.HandshakeTimeout)
	setMillis(&copts.websocket_retry_ms, opts.WebSocketRetry)
	copts.ca_file = strs.addOptional(opts.CAFile)
	copts.insecure_skip_verify_for_tests = cBool(opts.InsecureSkipVerifyForTests)
	if opts.MaxPendingEvents > 0 {
		copts.max_pending_events = C.size_t(opts.MaxPendingEvents)
	}
	// on_event stays NULL: events are polled by a goroutine (no call from a foreign thread).

	buffer := opts.EventBuffer
	if buffer <= 0 {
		buffer = 64
	}
	cl := &Client{
		closing:   make(chan struct{}),
		events:    make(chan Event, buffer),
		polled:    make(chan struct{}),
		waiters:   map[uint64]chan Event{},
		connected: make(chan struct{}),
	}
	if err := callFresh("NewClient", func() C.rthub_err { return C.rthub_client_new(&copts, &cl.c) }); err != nil {
		return nil, err
	}
	liveObjects.Add(1)
	if err := callFresh("NewClient", func() C.rthub_err { return C.rthub_client_start(cl.c) }); err != nil {
		C.rthub_client_free(cl.c)
		liveObjects.Add(-1)
		return nil, err
	}
	go cl.poll()
	return cl, nil
}

// Events is the channel of the client's events. It is closed after Close.
func (cl *Client) Events() <-chan Event { return cl.events }

// poll takes the library's events (rthub_client_next_event) and hands them to Go. It ends when
// the client is stopped and its queue drained.
func (cl *Client) poll() {
	defer close(cl.polled)
	defer close(cl.events)
	for {
		var ev *C.rthub_client_event
		// cl.c stays valid: Close frees it only after this goroutine ended. Waiting forever is
		// fine: rthub_client_stop ends the wait once the queue is drained.
		err := C.rthub_client_next_event(cl.c, -1, &ev)
		if err != C.RTHUB_OK {
			return // RTHUB_ERR_TIMEOUT: stopped and drained
		}
		event := copyEvent(ev) // ev is valid only until the next call
		if !cl.route(event) {
			continue
		}
		select {
		case cl.events <- event:
		case <-cl.closing: // nobody will read any more: drain and drop
		}
	}
}

// route updates the connection state and gives a Publish its outcome. False when the event
// went to a waiting Publish instead of the channel.
func (cl *Client) route(event Event) bool {
	cl.state.Lock()
	defer cl.state.Unlock()
	var requestID uint64
	switch e := event.(type) {
	case StateChange:
		if e.State == StateConnected && !cl.isConnected {
			cl.isConnected = true
			close(cl.connected)
		} else if e.State != StateConnected && cl.isConnected {
			cl.isConnected = false
			cl.connected = make(chan struct{})
		}
		return true
	case Published:
		requestID = e.RequestID
	case ErrorEvent:
		requestID = e.RequestID
	default:
		return true
	}
	if waiter, ok := cl.waiters[requestID]; ok && requestID != 0 {
		delete(cl.waiters, requestID)
		waiter <- event // buffered, one event per waiter
		return false
	}
	return true
}

// WaitConnected waits until the client is connected (by either transport), ctx ends, or the
// client is closed.
func (cl *Client) WaitConnected(ctx context.Context) error {
	cl.state.Lock()
	connected := cl.connected
	cl.state.Unlock()
	select {
	case <-connected:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-cl.polled:
		return errClosed("Client.WaitConnected")
	}
}

// Subscribe subscribes to channel now and after every reconnect, starting at the hub's latest
// message. The outcome arrives as an EventSubscribed (or EventError).
func (cl *Client) Subscribe(channel string) error {
	return cl.subscribe(channel, nil)
}

// SubscribeFrom subscribes to channel and continues after since, a position the program kept
// (from an earlier run, say). EventSubscribed says whether the hub could replay what followed.
func (cl *Client) SubscribeFrom(channel string, since Position) error {
	return cl.subscribe(channel, &since)
}

// SubscribeOptions say how to subscribe one channel.
type SubscribeOptions struct {
	// Since, when set, continues after a position the program kept.
	Since *Position
	// Snapshot: the channel's keyed state comes first, as one Snapshot event (and again after a
	// resume the hub could not honour), then the live messages after it.
	Snapshot bool
	// Presence: a Presence event with the members after each subscribe, then Join and Leave
	// events (over WebSocket; an event stream cannot carry them).
	Presence bool
}

// SubscribeWith subscribes to channel with a snapshot and/or presence.
func (cl *Client) SubscribeWith(channel string, opts SubscribeOptions) error {
	var flags C.uint32_t
	if opts.Snapshot {
		flags |= C.RTHUB_SUBSCRIBE_SNAPSHOT
	}
	if opts.Presence {
		flags |= C.RTHUB_SUBSCRIBE_PRESENCE
	}
	return cl.subscribeFlags(channel, opts.Since, flags)
}

// PresenceAsync asks for the members of a presence channel. The answer is a Presence event (or
// an ErrorEvent) carrying the returned request id; over SSE or long-polling it is read from
// GET /presence.
func (cl *Client) PresenceAsync(channel string) (uint64, error) {
	cchannel := C.CString(channel)
	defer C.free(unsafe.Pointer(cchannel))
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	if cl.c == nil {
		return 0, errClosed("Client.PresenceAsync")
	}
	var id C.uint64_t
	err := callFresh("Client.PresenceAsync", func() C.rthub_err { return C.rthub_client_presence(cl.c, cchannel, &id) })
	return uint64(id), err
}

func (cl *Client) subscribe(channel string, since *Position) error {
	return cl.subscribeFlags(channel, since, 0)
}

func (cl *Client) subscribeFlags(channel string, since *Position, flags C.uint32_t) error {
	cchannel := C.CString(channel)
	defer C.free(unsafe.Pointer(cchannel))
	var pos *C.rthub_position
	if since != nil {
		epoch := C.CString(since.Epoch)
		defer C.free(unsafe.Pointer(epoch))
		pos = &C.rthub_position{}
		C.rthub_go_set_position(pos, epoch, C.size_t(len(since.Epoch)), C.uint64_t(since.Seq))
	}
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	if cl.c == nil {
		return errClosed("Client.Subscribe")
	}
	return callFresh("Client.Subscribe", func() C.rthub_err { return C.rthub_client_subscribe_with(cl.c, cchannel, pos, flags) })
}

// Unsubscribe stops receiving channel and forgets its position.
func (cl *Client) Unsubscribe(channel string) error {
	cchannel := C.CString(channel)
	defer C.free(unsafe.Pointer(cchannel))
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	if cl.c == nil {
		return errClosed("Client.Unsubscribe")
	}
	return callFresh("Client.Unsubscribe", func() C.rthub_err { return C.rthub_client_unsubscribe(cl.c, cchannel) })
}

// PublishAsync publishes data (one JSON value, sent untouched) as typ ("": "message") on
// channel: over the WebSocket when connected by it (the hub must allow client publishes), else by
// POST /publish. It returns the request id that the outcome event (Published or ErrorEvent)
// carries.
func (cl *Client) PublishAsync(channel, typ string, data []byte) (uint64, error) {
	return cl.publish(channel, typ, data, nil)
}

// PublishKeyedAsync publishes like PublishAsync with opts.Key (the message becomes the key's
// current state) or, with opts.DeleteKey, removes the key (data may then be nil: null). The
// IdempotencyKey of opts is not used by the client.
func (cl *Client) PublishKeyedAsync(channel, typ string, data []byte, opts PublishOptions) (uint64, error) {
	msg := newCMessage(channel, typ, data)
	defer msg.free()
	key := C.CString(opts.Key)
	defer C.free(unsafe.Pointer(key))
	var flags C.uint32_t
	cdata := msg.data
	if opts.DeleteKey {
		flags |= C.RTHUB_PUBLISH_DELETE_KEY
		if len(data) == 0 {
			cdata = nil
		}
	}
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	if cl.c == nil {
		return 0, errClosed("Client.PublishKeyedAsync")
	}
	var id C.uint64_t
	err := callFresh("Client.PublishKeyedAsync", func() C.rthub_err {
		return C.rthub_client_publish_keyed(cl.c, msg.channel, msg.typ, cdata, msg.dataLen, key, flags, &id)
	})
	return uint64(id), err
}

// Publish publishes like PublishAsync and waits for the outcome: the message's position, a
// *RequestError when the hub refused it, or ctx.Err(). Its outcome is not sent on Events; it is
// picked out by the goroutine that feeds Events, in order, so keep reading Events meanwhile
// (or give EventBuffer room).
func (cl *Client) Publish(ctx context.Context, channel, typ string, data []byte) (Position, error) {
	waiter := make(chan Event, 1)
	id, err := cl.publish(channel, typ, data, waiter)
	if err != nil {
		return Position{}, err
	}
	select {
	case event := <-waiter:
		if e, ok := event.(ErrorEvent); ok {
			return Position{}, &RequestError{Code: e.Code, Message: e.Message}
		}
		return event.(Published).Position, nil
	case <-ctx.Done():
		cl.state.Lock()
		delete(cl.waiters, id)
		cl.state.Unlock()
		return Position{}, ctx.Err()
	case <-cl.polled:
		return Position{}, errClosed("Client.Publish")
	}
}

func (cl *Client) publish(channel, typ string, data []byte, waiter chan Event) (uint64, error) {
	msg := newCMessage(channel, typ, data)
	defer msg.free()
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	if cl.c == nil {
		return 0, errClosed("Client.Publish")
	}
	// The waiter is registered before the poll goroutine can see the outcome: it takes
	// cl.state to route an event, and we hold it from the call to the registration.
	cl.state.Lock()
	defer cl.state.Unlock()
	var id C.uint64_t
	err := callFresh("Client.Publish", func() C.rthub_err {
		return C.rthub_client_publish(cl.c, msg.channel, msg.typ, msg.data, msg.dataLen, &id)
	})
	if err == nil && waiter != nil {
		cl.waiters[uint64(id)] = waiter
	}
	return uint64(id), err
}

// ClientCounters are a client's own counters.
type ClientCounters struct {
	Connects          uint64 // connections opened
	Reconnects        uint64 // connections opened after a previous one was lost
	Fallbacks         uint64 // switches from WebSocket to SSE
	Messages          uint64 // messages handed over
	DuplicatesDropped uint64 // messages at or before a channel's position, not handed over
	Resets            uint64 // EventReset events
	WatchdogTimeouts  uint64 // connections dropped for silence
	Snapshots         uint64 // Snapshot events
}

// Counters takes a snapshot of the client's counters.
func (cl *Client) Counters() (ClientCounters, error) {
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	if cl.c == nil {
		return ClientCounters{}, errClosed("Client.Counters")
	}
	var c C.rthub_client_counters
	C.rthub_go_counters_init(&c)
	if err := callFresh("Client.Counters", func() C.rthub_err { return C.rthub_client_get_counters(cl.c, &c) }); err != nil {
		return ClientCounters{}, err
	}
	return ClientCounters{
		Connects: uint64(c.connects), Reconnects: uint64(c.reconnects), Fallbacks: uint64(c.fallbacks),
		Messages: uint64(c.messages), DuplicatesDropped: uint64(c.duplicates_dropped),
		Resets: uint64(c.resets), WatchdogTimeouts: uint64(c.watchdog_timeouts),
		Snapshots: uint64(c.snapshots),
	}, nil
}

// Close closes the connection, stops the client and frees it. Events not yet read are dropped
// and the Events channel is closed. Calling Close again does nothing.
func (cl *Client) Close() error {
	var err error
	cl.once.Do(func() {
		close(cl.closing)
		cl.mu.RLock()
		err = callFresh("Client.Close", func() C.rthub_err { return C.rthub_client_stop(cl.c) })
		cl.mu.RUnlock()
		<-cl.polled // the poll goroutine drained the queue and ended
		cl.mu.Lock()
		C.rthub_client_free(cl.c)
		cl.c = nil
		cl.mu.Unlock()
		liveObjects.Add(-1)
	})
	return err
}

func setMillis(dst *C.int, d time.Duration) {
	if d > 0 {
		*dst = C.int((d + time.Millisecond - 1) / time.Millisecond)
	}
}

func setMillis32(dst *C.uint32_t, d time.Duration) {
	if d > 0 {
		*dst = C.uint32_t((d + time.Millisecond - 1) / time.Millisecond)
	}
}
