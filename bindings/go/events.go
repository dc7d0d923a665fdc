package rthub

// #include <rthub/rthub.h>
import "C"

import (
	"encoding/json"
	"fmt"
	"time"
	"unsafe"
)

// Event is one thing that happened to a Client. Tell the kinds apart with a type switch:
//
//	switch e := ev.(type) {
//	case rthub.Message:
//		apply(e.Channel, e.Data)
//	case rthub.Reset:
//		reload(e.Channel)
//	case rthub.StateChange:
//		log.Printf("%v over %v", e.State, e.Transport)
//	}
//
// A kind that a newer library adds arrives as an UnknownEvent, so that a program built today
// keeps working with it.
type Event interface {
	// String describes the event for logs.
	String() string
	isEvent()
}

// Message is a message published on a subscribed channel.
type Message struct {
	Channel  string
	Position Position
	Type     string
	Data     json.RawMessage // the publisher's JSON value, byte for byte
	Time     time.Time       // the hub's publish time
	Key      string          // a keyed message's key, "" when none
	Deleted  bool            // the message removes Key from the channel's keyed state
}

// KeyedMessage is one key's current message in a Snapshot.
type KeyedMessage struct {
	Key  string          `json:"key"`
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
	TS   int64           `json:"ts"` // the hub's publish time, ms since the Unix epoch
}

// Snapshot is the keyed state of a channel subscribed with Snapshot: the current message of every
// key, in seq order. It replaces what the program had for the channel; the live messages after
// Position follow. It comes at the first subscribe and after a resume the hub could not honour.
type Snapshot struct {
	Channel  string
	Position Position
	Items    []KeyedMessage
}

// Member is a member of a channel's presence: a connection subscribed to it.
type Member struct {
	ID   uint64  `json:"id"`   // the connection's id on its hub
	User *string `json:"user"` // the token's sub; nil without a token
}

// Presence lists a presence channel's members: after each subscribe (RequestID 0) and in answer
// to PresenceAsync.
type Presence struct {
	Channel   string
	Clients   []Member
	RequestID uint64
}

// Join says that a member came to a presence channel.
type Join struct {
	Channel string
	Client  Member
}

// Leave says that a member left a presence channel.
type Leave struct {
	Channel string
	Client  Member
}

// Subscribed says that a subscription is in place; Position is the hub's latest message.
type Subscribed struct {
	Channel  string
	Position Position
	// ResumeAsked is true when the subscription continued from a position; Recovered then says
	// whether the hub could replay everything after it.
	ResumeAsked, Recovered bool
}

// Unsubscribed says that a channel is no longer received.
type Unsubscribed struct {
	Channel string
}

// Reset says that messages of Channel were missed and cannot be replayed: reload the channel's
// state. The channel continues after Position.
type Reset struct {
	Channel  string
	Position Position
	Reason   string
}

// StateChange reports the client's connection state.
type StateChange struct {
	State     ClientState
	Transport Transport
	Reason    string        // disconnected, fallback, closed
	Attempt   int           // consecutive failed attempts so far
	RetryIn   time.Duration // disconnected: delay before the next attempt; negative: none
}

// ErrorEvent is the hub's refusal of a request, or a protocol error.
type ErrorEvent struct {
	Code      string // bad_request, unauthorized, forbidden, too_large, limit, ..., or protocol
	Message   string // human readable
	Channel   string // when it answers a request about a channel
	RequestID uint64 // when it answers a PublishAsync
}

// Published says that a PublishAsync was accepted, and where the message sits.
type Published struct {
	Channel   string
	Position  Position
	RequestID uint64
}

// UnknownEvent is an event of a kind this binding does not know (from a newer library).
type UnknownEvent struct {
	Kind int
}

func (Message) isEvent()      {}
func (Subscribed) isEvent()   {}
func (Unsubscribed) isEvent() {}
func (Reset) isEvent()        {}
func (StateChange) isEvent()  {}
func (ErrorEvent) isEvent()   {}
func (Published) isEvent()    {}
func (UnknownEvent) isEvent() {}
func (Snapshot) isEvent()     {}
func (Presence) isEvent()     {}
func (Join) isEvent()         {}
func (Leave) isEvent()        {}

func (e Snapshot) String() string {
	return fmt.Sprintf("snapshot %s at %d: %d keys", e.Channel, e.Position.Seq, len(e.Items))
}
func (e Presence) String() string {
	return fmt.Sprintf("presence %s: %d members (request %d)", e.Channel, len(e.Clients), e.RequestID)
}
func (e Join) String() string  { return fmt.Sprintf("join %s: %d", e.Channel, e.Client.ID) }
func (e Leave) String() string { return fmt.Sprintf("leave %s: %d", e.Channel, e.Client.ID) }

func (e Message) String() string {
	return fmt.Sprintf("message %s@%s:%d %s %s", e.Channel, e.Position.Epoch, e.Position.Seq, e.Type, e.Data)
}
func (e Subscribed) String() string {
	return fmt.Sprintf("subscribed %s at %d (resume asked %v, recovered %v)", e.Channel, e.Position.Seq, e.ResumeAsked, e.Recovered)
}
func (e Unsubscribed) String() string { return "unsubscribed " + e.Channel }
func (e Reset) String() string {
	return fmt.Sprintf("reset %s at %d: %s", e.Channel, e.Position.Seq, e.Reason)
}
func (e StateChange) String() string {
	return fmt.Sprintf("state %v over %v (%s, attempt %d, retry in %v)", e.State, e.Transport, e.Reason, e.Attempt, e.RetryIn)
}
func (e ErrorEvent) String() string {
	return fmt.Sprintf("error %s: %s (channel %q, request %d)", e.Code, e.Message, e.Channel, e.RequestID)
}
func (e Published) String() string {
	return fmt.Sprintf("published %s at %d (request %d)", e.Channel, e.Position.Seq, e.RequestID)
}
func (e UnknownEvent) String() string { return fmt.Sprintf("event of unknown kind %d", e.Kind) }

// ClientState is a client's connection state. A state that a newer library adds has its own
// number and prints as ClientState(N).
type ClientState int

const (
	StateConnecting   ClientState = C.RTHUB_CLIENT_CONNECTING   // an attempt starts
	StateConnected    ClientState = C.RTHUB_CLIENT_CONNECTED    // the transport is open
	StateDisconnected ClientState = C.RTHUB_CLIENT_DISCONNECTED // the connection ended; next attempt in RetryIn
	StateFallback     ClientState = C.RTHUB_CLIENT_FALLBACK     // WebSocket cannot pass: switching to SSE
	StateClosed       ClientState = C.RTHUB_CLIENT_CLOSED       // stopped or gave up: no more attempts
)

func (s ClientState) String() string {
	name := C.GoString(C.rthub_client_state_name(C.rthub_client_state(s)))
	if name == "" || name == "unknown" {
		return fmt.Sprintf("ClientState(%d)", int(s))
	}
	return name
}

// Transport is how a client is connected.
type Transport int

const (
	TransportNone Transport = C.RTHUB_TRANSPORT_NONE
	TransportWS   Transport = C.RTHUB_TRANSPORT_WS
	TransportSSE  Transport = C.RTHUB_TRANSPORT_SSE
	TransportPoll Transport = C.RTHUB_TRANSPORT_POLL
)

func (t Transport) String() string {
	return C.GoString(C.rthub_transport_name(C.rthub_transport(t)))
}

// copyEvent copies the library's event (valid only until the next rthub_client_next_event) into
// its Go type.
func copyEvent(ev *C.rthub_client_event) Event {
	str := func(p *C.char, n C.size_t) string { return C.GoStringN(p, C.int(n)) }
	position := func() Position {
		return Position{Epoch: str(ev.epoch, ev.epoch_len), Seq: uint64(ev.seq)}
	}
	channel := str(ev.channel, ev.channel_len)
	switch ev.kind {
	case C.RTHUB_CLIENT_EVENT_MESSAGE:
		return Message{
			Channel: channel, Position: position(), Type: str(ev._type, ev.type_len),
			Data: C.GoBytes(unsafe.Pointer(ev.data), C.int(ev.data_len)),
			Time: time.UnixMilli(int64(ev.ts_ms)),
			Key:  str(ev.key, ev.key_len), Deleted: ev.deleted != 0,
		}
	case C.RTHUB_CLIENT_EVENT_SNAPSHOT:
		s := Snapshot{Channel: channel, Position: position()}
		if err := json.Unmarshal(C.GoBytes(unsafe.Pointer(ev.data), C.int(ev.data_len)), &s.Items); err != nil {
			return ErrorEvent{Code: "protocol", Message: "unreadable snapshot: " + err.Error(), Channel: channel}
		}
		return s
	case C.RTHUB_CLIENT_EVENT_PRESENCE:
		p := Presence{Channel: channel, RequestID: uint64(ev.request_id)}
		if err := json.Unmarshal(C.GoBytes(unsafe.Pointer(ev.data), C.int(ev.data_len)), &p.Clients); err != nil {
			return ErrorEvent{Code: "protocol", Message: "unreadable presence: " + err.Error(), Channel: channel}
		}
		return p
	case C.RTHUB_CLIENT_EVENT_JOIN, C.RTHUB_CLIENT_EVENT_LEAVE:
		var m Member
		if err := json.Unmarshal(C.GoBytes(unsafe.Pointer(ev.data), C.int(ev.data_len)), &m); err != nil {
			return ErrorEvent{Code: "protocol", Message: "unreadable member: " + err.Error(), Channel: channel}
		}
		if ev.kind == C.RTHUB_CLIENT_EVENT_JOIN {
			return Join{Channel: channel, Client: m}
		}
		return Leave{Channel: channel, Client: m}
	case C.RTHUB_CLIENT_EVENT_SUBSCRIBED:
		return Subscribed{Channel: channel, Position: position(), ResumeAsked: ev.recovered >= 0, Recovered: ev.recovered == 1}
	case C.RTHUB_CLIENT_EVENT_UNSUBSCRIBED:
		return Unsubscribed{Channel: channel}
	case C.RTHUB_CLIENT_EVENT_RESET:
		return Reset{Channel: channel, Position: position(), Reason: str(ev.reason, ev.reason_len)}
	case C.RTHUB_CLIENT_EVENT_STATE:
		return StateChange{
			State: ClientState(ev.state), Transport: Transport(ev.transport), Reason: str(ev.reason, ev.reason_len),
			Attempt: int(ev.attempt), RetryIn: time.Duration(ev.retry_in_ms) * time.Millisecond,
		}
	case C.RTHUB_CLIENT_EVENT_ERROR:
		return ErrorEvent{
			Code: str(ev.code, ev.code_len), Message: str(ev.message, ev.message_len),
			Channel: channel, RequestID: uint64(ev.request_id),
		}
	case C.RTHUB_CLIENT_EVENT_PUBLISHED:
		return Published{Channel: channel, Position: position(), RequestID: uint64(ev.request_id)}
	}
	return UnknownEvent{Kind: int(ev.kind)}
}
