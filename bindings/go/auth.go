package rthub

// #include <rthub/rthub.h>
import "C"

import "sync"

// ConnectInfo is a connection asking to open, as OnConnect sees it.
type ConnectInfo struct {
	Transport     string // "ws", "sse" or "poll"
	Peer          string // client address
	Token         string // from Authorization: Bearer or ?token=; "" when none
	Origin        string // Origin header; "" when none
	TokenVerified bool   // the hub's JWT secret verified Token
	TokenSubject  string // the verified token's sub
}

// Verdict is what OnConnect decides.
type Verdict int

const (
	// VerdictRules leaves the decision to the JWT rules (the zero ConnectDecision).
	VerdictRules Verdict = iota
	// VerdictAccept admits the connection with the decision's identity and rights.
	VerdictAccept
	// VerdictRefuse refuses it with the decision's HTTP status.
	VerdictRefuse
)

// ConnectDecision is OnConnect's answer. Build it with Accept or Refuse; the zero value lets the
// JWT rules decide.
type ConnectDecision struct {
	Verdict   Verdict
	Identity  string   // VerdictAccept: the identity channel checks see
	Subscribe []string // VerdictAccept: channel patterns it may subscribe to ("name", "prefix*", "*")
	Publish   []string // VerdictAccept: channel patterns it may publish to
	Status    int      // VerdictRefuse: 401 or 403
}

// Accept admits a connection as identity with the given rights (channel patterns).
func Accept(identity string, subscribe, publish []string) ConnectDecision {
	return ConnectDecision{Verdict: VerdictAccept, Identity: identity, Subscribe: subscribe, Publish: publish}
}

// Refuse refuses a connection with HTTP status 401 or 403.
func Refuse(status int) ConnectDecision {
	return ConnectDecision{Verdict: VerdictRefuse, Status: status}
}

// Action is what a channel check is about.
type Action int

const (
	ActionSubscribe Action = C.RTHUB_SUBSCRIBE
	ActionPublish   Action = C.RTHUB_PUBLISH
)

func (a Action) String() string {
	if a == ActionPublish {
		return "publish"
	}
	return "subscribe"
}

// ChannelCheck is a subscribe or client publish waiting for the host's decision. Answer it once
// with Allow or Deny, from any goroutine, during OnChannel or later.
type ChannelCheck struct {
	Action         Action
	Channel        string
	Identity       string // the connection's identity; "" when anonymous
	AllowedByRules bool   // what the JWT or anonymous rules alone answer

	hooks *hubHooks
	c     *C.rthub_channel_check // nil once answered; guarded by hooks.mu
}

// Allow lets the request through.
func (c *ChannelCheck) Allow() error { return c.Complete(true) }

// Deny refuses the request (the client gets a forbidden error).
func (c *ChannelCheck) Deny() error { return c.Complete(false) }

// Complete answers the check. A second answer, or one after the hub stopped (which denies open
// checks), returns ErrState.
func (c *ChannelCheck) Complete(allow bool) error {
	c.hooks.mu.Lock()
	defer c.hooks.mu.Unlock()
	if c.c == nil {
		return &Error{Op: "ChannelCheck.Complete", Code: ErrState, Detail: "already answered, or the hub stopped"}
	}
	check := c.c
	c.c = nil
	delete(c.hooks.pending, c)
	// Under hooks.mu, so that a stopping hub cannot go away in between: the completion only
	// queues the answer for the service thread, it never waits for it.
	return call("ChannelCheck.Complete", func() C.rthub_err { return C.rthub_channel_check_complete(check, cBool(allow)) })
}

// hubHooks is the Go state the C hooks reach through a cgo.Handle.
type hubHooks struct {
	onConnect func(ConnectInfo) ConnectDecision
	onChannel func(*ChannelCheck)

	mu       sync.Mutex
	stopping bool                       // checks arriving now are denied at once
	pending  map[*ChannelCheck]struct{} // checks handed to onChannel, not answered yet
}

// beginStop denies every open check; checks that arrive until endStop are denied at once.
func (hh *hubHooks) beginStop() {
	hh.mu.Lock()
	defer hh.mu.Unlock()
	hh.stopping = true
	for check := range hh.pending {
		C.rthub_channel_check_complete(check.c, 0)
		check.c = nil
	}
	hh.pending = map[*ChannelCheck]struct{}{}
}

func (hh *hubHooks) endStop() {
	hh.mu.Lock()
	hh.stopping = false
	hh.mu.Unlock()
}

// openCheck registers a check from the service thread; nil when the hub is stopping (the check
// is then denied).
func (hh *hubHooks) openCheck(info *C.rthub_channel_info, c *C.rthub_channel_check) *ChannelCheck {
	hh.mu.Lock()
	defer hh.mu.Unlock()
	if hh.stopping {
		C.rthub_channel_check_complete(c, 0)
		return nil
	}
	check := &ChannelCheck{
		Action:         Action(info.action),
		Channel:        C.GoString(info.channel),
		Identity:       C.GoString(info.identity),
		AllowedByRules: info.allowed_by_rules != 0,
		hooks:          hh,
		c:              c,
	}
	hh.pending[check] = struct{}{}
	return check
}
