package rthub

// The //export trampolines that rthub's C hooks call (through the adapters in hub.go's preamble).
// They run on the hub's service thread. user_data is the cgo.Handle of a *hubHooks: C never
// holds a Go pointer.

// #include <stdint.h>
// #include <rthub/rthub.h>
import "C"

import "runtime/cgo"

//export rthubGoOnConnect
func rthubGoOnConnect(info *C.rthub_connect_info, answer *C.rthub_connect_answer, hooks C.uintptr_t) {
	hh := cgo.Handle(hooks).Value().(*hubHooks)
	in := ConnectInfo{
		Transport:     C.GoString(info.transport),
		Peer:          C.GoString(info.peer),
		Token:         C.GoStringN(info.token, C.int(info.token_len)),
		Origin:        C.GoString(info.origin),
		TokenVerified: info.token_verified != 0,
		TokenSubject:  C.GoString(info.token_subject),
	}
	decision, ok := decideConnect(hh.onConnect, in)
	if !ok { // the host's hook panicked: fail closed
		C.rthub_connect_refuse(answer, 403)
		return
	}
	switch decision.Verdict {
	case VerdictAccept:
		var strs cStrings
		defer strs.free()
		identity := strs.add(decision.Identity)
		sub, nsub := strs.array(decision.Subscribe)
		pub, npub := strs.array(decision.Publish)
		C.rthub_connect_accept(answer, identity, sub, nsub, pub, npub)
	case VerdictRefuse:
		C.rthub_connect_refuse(answer, C.int(decision.Status))
	}
}

func decideConnect(fn func(ConnectInfo) ConnectDecision, in ConnectInfo) (decision ConnectDecision, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return fn(in), true
}

//export rthubGoOnChannel
func rthubGoOnChannel(info *C.rthub_channel_info, c *C.rthub_channel_check, hooks C.uintptr_t) {
	hh := cgo.Handle(hooks).Value().(*hubHooks)
	check := hh.openCheck(info, c)
	if check == nil {
		return // the hub is stopping: denied
	}
	defer func() {
		if recover() != nil {
			check.Deny() // fail closed; ErrState if the hook answered before panicking
		}
	}()
	hh.onChannel(check)
}

//export rthubGoPublishDone
func rthubGoPublishDone(err C.rthub_err, position *C.rthub_position, waiter C.uintptr_t) {
	handle := cgo.Handle(waiter)
	outcome := handle.Value().(chan publishOutcome)
	handle.Delete()
	liveObjects.Add(-1)
	o := publishOutcome{code: Code(err)}
	if err == C.RTHUB_OK && position != nil {
		o.pos = Position{Epoch: C.GoString(&position.epoch[0]), Seq: uint64(position.seq)}
	}
	outcome <- o // room for one: never blocks the service thread
}
