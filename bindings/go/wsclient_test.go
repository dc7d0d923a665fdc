package rthub

// A minimal RFC 6455 client written against the standard library only, so that the tests talk
// to the hub like any third-party WebSocket client: a real handshake, masked frames, pings.

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

type wsConn struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialWS opens ws://addr/path with extra headers. A refused handshake returns an error that
// names the HTTP status.
func dialWS(addr, path string, header http.Header) (*wsConn, error) {
	conn, err := net.DialTimeout("tcp", addr, hangTimeout)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	key := base64.StdEncoding.EncodeToString(nonce)
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, addr)
	fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	for name, values := range header {
		for _, v := range values {
			fmt.Fprintf(&req, "%s: %s\r\n", name, v)
		}
	}
	req.WriteString("\r\n")
	conn.SetDeadline(time.Now().Add(hangTimeout))
	if _, err := io.WriteString(conn, req.String()); err != nil {
		conn.Close()
		return nil, err
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("handshake refused: HTTP %d", resp.StatusCode)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		conn.Close()
		return nil, fmt.Errorf("bad Sec-WebSocket-Accept %q, want %q", got, want)
	}
	conn.SetDeadline(time.Time{})
	return &wsConn{conn: conn, r: r}, nil
}

func (c *wsConn) Close() error { return c.conn.Close() }

// writeFrame sends one masked frame.
func (c *wsConn) writeFrame(opcode byte, payload []byte) error {
	header := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		header = append(header, 0x80|byte(n))
	case n <= 0xffff:
		header = append(header, 0x80|126, byte(n>>8), byte(n))
	default:
		header = append(header, 0x80|127)
		header = binary.BigEndian.AppendUint64(header, uint64(n))
	}
	mask := make([]byte, 4)
	rand.Read(mask)
	header = append(header, mask...)
	masked := make([]byte, len(payload))
	for i, b := range payload {
		masked[i] = b ^ mask[i%4]
	}
	c.conn.SetWriteDeadline(time.Now().Add(hangTimeout))
	_, err := c.conn.Write(append(header, masked...))
	return err
}

func (c *wsConn) sendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.writeFrame(0x1, b)
}

// errWSClosed is returned once the hub sent a close frame; closeCode has its code.
type errWSClosed struct{ code int }

func (e errWSClosed) Error() string { return fmt.Sprintf("websocket closed with %d", e.code) }

// readText returns the next text frame, answering pings on the way.
func (c *wsConn) readText(timeout time.Duration) ([]byte, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		var head [2]byte
		if _, err := io.ReadFull(c.r, head[:]); err != nil {
			return nil, err
		}
		if head[0]&0x80 == 0 {
			return nil, errors.New("fragmented frames are not expected from the hub")
		}
		opcode := head[0] & 0x0f
		n := uint64(head[1] & 0x7f)
		if head[1]&0x80 != 0 {
			return nil, errors.New("the hub sent a masked frame")
		}
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(c.r, ext[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(c.r, ext[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			return nil, err
		}
		switch opcode {
		case 0x1:
			return payload, nil
		case 0x8:
			code := 1005
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
			}
			c.writeFrame(0x8, payload) // answer the close, as RFC 6455 asks
			return nil, errWSClosed{code}
		case 0x9:
			if err := c.writeFrame(0xA, payload); err != nil {
				return nil, err
			}
		}
	}
}

// readOp returns the next JSON object whose "op" is op, skipping pings.
func (c *wsConn) readOp(op string, timeout time.Duration) (map[string]any, error) {
	deadline := time.Now().Add(timeout)
	for {
		frame, err := c.readText(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		var obj map[string]any
		if err := json.Unmarshal(frame, &obj); err != nil {
			return nil, fmt.Errorf("frame is not a JSON object: %q", frame)
		}
		if obj["op"] == op {
			return obj, nil
		}
		if obj["op"] != "ping" {
			return nil, fmt.Errorf("want op %q, got %s", op, frame)
		}
	}
}
