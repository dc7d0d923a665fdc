// Command rthub-example-go is a small map backend: a net/http API that stores geometries and,
// after each change, publishes "geometry.updated" (or "geometry.deleted") on channel "geometry"
// through an rthub hub embedded in the same process. Browsers and apps follow the changes on the
// hub's /ws (WebSocket) or /events (Server-Sent Events); no Redis and no second server needed.
//
//	rthub-example-go -api 127.0.0.1:8081 -hub 127.0.0.1:8090
//	curl -N 'http://127.0.0.1:8090/events?channel=geometry' &
//	curl -X PUT http://127.0.0.1:8081/api/geometries/7 -d '{"type":"Point","coordinates":[-46.6,-23.5]}'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	rthub "github.com/rthub/rthub/bindings/go"
)

// geometry is what the API stores and what "geometry.updated" carries.
type geometry struct {
	ID        string          `json:"id"`
	Version   int             `json:"version"`
	Geometry  json.RawMessage `json:"geometry"` // GeoJSON, kept as sent
	UpdatedAt time.Time       `json:"updated_at"`
}

// store is the example's database: a map behind a mutex.
type store struct {
	mu         sync.Mutex
	geometries map[string]*geometry
}

// api serves /api/geometries and publishes every change through the hub.
type api struct {
	store *store
	hub   *rthub.Hub
}

const channel = "geometry"

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/geometries", a.list)
	mux.HandleFunc("/api/geometries/", a.one)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	return mux
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	a.store.mu.Lock()
	out := make([]*geometry, 0, len(a.store.geometries))
	for _, g := range a.store.geometries {
		out = append(out, g)
	}
	a.store.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, out)
}

func (a *api) one(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/api/geometries/")
	if id == "" || strings.Contains(id, "/") {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		a.store.mu.Lock()
		g := a.store.geometries[id]
		a.store.mu.Unlock()
		if g == nil {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, http.StatusOK, g)
	case http.MethodPut:
		a.put(w, r, id)
	case http.MethodDelete:
		a.delete(w, r, id)
	default:
		http.Error(w, "GET, PUT or DELETE", http.StatusMethodNotAllowed)
	}
}

func (a *api) put(w http.ResponseWriter, r *http.Request, id string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || !json.Valid(body) {
		http.Error(w, "the body must be a GeoJSON geometry", http.StatusBadRequest)
		return
	}
	a.store.mu.Lock()
	g := a.store.geometries[id]
	if g == nil {
		g = &geometry{ID: id}
		a.store.geometries[id] = g
	}
	g.Version++
	g.Geometry = body
	g.UpdatedAt = time.Now().UTC()
	event, _ := json.Marshal(g)
	a.store.mu.Unlock()

	// Publish waits for the message's position (channel epoch and seq), which the response
	// carries: a client that loaded state through the API can resume the stream from there.
	pos, err := a.hub.Publish(r.Context(), channel, "geometry.updated", event)
	if err != nil {
		http.Error(w, "publish: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"geometry": json.RawMessage(event), "epoch": pos.Epoch, "seq": pos.Seq})
}

func (a *api) delete(w http.ResponseWriter, r *http.Request, id string) {
	a.store.mu.Lock()
	_, found := a.store.geometries[id]
	delete(a.store.geometries, id)
	a.store.mu.Unlock()
	if !found {
		http.NotFound(w, r)
		return
	}
	event, _ := json.Marshal(map[string]string{"id": id})
	if _, err := a.hub.Publish(r.Context(), channel, "geometry.deleted", event); err != nil {
		http.Error(w, "publish: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func main() {
	apiAddr := flag.String("api", "127.0.0.1:8081", "address of the HTTP API (port 0: any free port)")
	hubAddr := flag.String("hub", "127.0.0.1:8090", "address of the hub: /ws, /events, /publish (port 0: any free port)")
	static := flag.String("static", "", "directory the hub serves at / (e.g. examples/web)")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*apiAddr, *hubAddr, *static); err != nil {
		log.Fatal(err)
	}
}

func run(apiAddr, hubAddr, static string) error {
	hub, err := rthub.NewHub(rthub.Options{Addr: hubAddr, StaticDir: static})
	if err != nil {
		return err
	}
	defer hub.Close()
	if err := hub.Start(); err != nil {
		return err
	}

	listener, err := net.Listen("tcp", apiAddr)
	if err != nil {
		return err
	}
	server := &http.Server{
		Handler:           (&api{store: &store{geometries: map[string]*geometry{}}, hub: hub}).routes(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	host, _, _ := net.SplitHostPort(hubAddr)
	if host == "" {
		host = "127.0.0.1"
	}
	// Scripts (the smoke test) read these two lines to find the ports.
	fmt.Printf("hub: http://%s (rthub %s): /ws, /events?channel=%s\n", net.JoinHostPort(host, fmt.Sprint(hub.Port())), rthub.Version(), channel)
	fmt.Printf("api: http://%s/api/geometries\n", listener.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	select {
	case err := <-served:
		return err
	case <-stop:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return hub.Close() // closes every stream with 1001: clients reconnect to the next instance
}
