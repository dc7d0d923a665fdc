package rthub

import (
	"context"
	"testing"
	"time"
)

// A client subscribed with Snapshot and Presence gets the keyed state, then keyed live messages,
// the members, and join/leave of another client; it publishes and deletes a key itself.
func TestClientSnapshotAndPresence(t *testing.T) {
	checkNoLeaks(t)
	hub := startHub(t, Options{AllowClientPublish: true})
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if _, err := hub.PublishWithOptions(ctx, "map", "zone", []byte(`"`+k+`"`), PublishOptions{Key: k}); err != nil {
			t.Fatalf("publish %s: %v", k, err)
		}
	}
	if _, err := hub.PublishWithOptions(ctx, "map", "zone", []byte(`null`), PublishOptions{Key: "a", DeleteKey: true}); err != nil {
		t.Fatalf("delete a: %v", err)
	}

	cl, err := NewClient(ClientOptions{URL: hubURL(hub), Channels: []string{"map"}, Snapshot: true, Presence: true,
		BackoffBase: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer cl.Close()
	snapshot := next[Snapshot](t, cl)
	if snapshot.Position.Seq != 3 || len(snapshot.Items) != 1 || snapshot.Items[0].Key != "b" || string(snapshot.Items[0].Data) != `"b"` {
		t.Fatalf("snapshot: %+v, want key b alone at seq 3", snapshot)
	}
	members := next[Presence](t, cl)
	if len(members.Clients) != 1 || members.RequestID != 0 || members.Clients[0].User != nil {
		t.Fatalf("members after subscribe: %+v", members)
	}
	self := members.Clients[0].ID

	if _, err := hub.PublishWithOptions(ctx, "map", "zone", []byte(`3`), PublishOptions{Key: "c"}); err != nil {
		t.Fatalf("publish c: %v", err)
	}
	if m := next[Message](t, cl); m.Key != "c" || m.Deleted || m.Position.Seq != 4 {
		t.Fatalf("live keyed message: %+v", m)
	}
	if _, err := cl.PublishKeyedAsync("map", "zone", nil, PublishOptions{Key: "b", DeleteKey: true}); err != nil {
		t.Fatalf("PublishKeyedAsync delete: %v", err)
	}
	if m := next[Message](t, cl); m.Key != "b" || !m.Deleted || m.Position.Seq != 5 {
		t.Fatalf("the client's delete: %+v", m)
	}
	if _, err := cl.PublishKeyedAsync("map", "zone", nil, PublishOptions{Key: "b"}); err == nil {
		t.Fatal("a keyed publish without data was accepted")
	}

	other, err := NewClient(ClientOptions{URL: hubURL(hub), Channels: []string{"map"}, Presence: true})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	join := next[Join](t, cl)
	if join.Channel != "map" || join.Client.ID == self {
		t.Fatalf("join: %+v", join)
	}
	id, err := cl.PresenceAsync("map")
	if err != nil {
		t.Fatalf("PresenceAsync: %v", err)
	}
	asked := nextEvent(t, cl, func(e Event) bool { p, ok := e.(Presence); return ok && p.RequestID == id }).(Presence)
	if len(asked.Clients) != 2 {
		t.Fatalf("members: %+v, want 2", asked)
	}
	other.Close()
	if leave := next[Leave](t, cl); leave.Client.ID != join.Client.ID {
		t.Fatalf("leave: %+v, want %d", leave, join.Client.ID)
	}
	counters, err := cl.Counters()
	if err != nil || counters.Snapshots != 1 {
		t.Fatalf("counters: %+v %v", counters, err)
	}
}

// Redis mode keeps snapshots and presence too: a client asking for them (presence over WebSocket)
// is refused nothing and streams the channel, over WebSocket and SSE alike.
func TestClientSnapshotOnHubWithoutKeyedState(t *testing.T) {
	redisURL := startRedis(t)
	checkNoLeaks(t)
	hub := startHub(t, Options{RedisURL: redisURL})
	waitHealthy(t, hub)
	for _, sse := range []bool{false, true} {
		cl, err := NewClient(ClientOptions{URL: hubURL(hub), Channels: []string{"incidents"}, SSEOnly: sse,
			Snapshot: true, Presence: !sse, BackoffBase: 20 * time.Millisecond, BackoffCap: 200 * time.Millisecond})
		if err != nil {
			t.Fatalf("NewClient: %v", err)
		}
		var refusals []ErrorEvent
		nextEvent(t, cl, func(e Event) bool {
			if r, ok := e.(ErrorEvent); ok {
				refusals = append(refusals, r)
			}
			_, ok := e.(Subscribed)
			return ok
		})
		at, err := hub.Publish(context.Background(), "incidents", "t", []byte(`1`))
		if err != nil {
			t.Fatal(err)
		}
		if m := next[Message](t, cl); m.Position != at {
			t.Fatalf("sse %v: message %+v, published at %+v", sse, m, at)
		}
		if len(refusals) != 0 {
			t.Fatalf("sse %v: errors %+v, want none", sse, refusals)
		}
		cl.Close()
	}
}
