package l7

import (
	"bytes"
	"errors"
	"io"
	"net"
	"time"
)

// errHeadTooLarge: a message head does not fit the connection's buffer.
var errHeadTooLarge = errors.New("message head too large")

// connReader is a connection's read buffer with the message-head search
// the HTTP/1.1 fast path needs. Unlike bufio.Reader it exposes its
// unconsumed bytes, so a connection can be handed to net/http with them.
//
// Its read deadline follows the connection's activity lazily: a read
// pushes the deadline timeout ahead only when less than 15/16 of it is
// left, so a busy connection sets it about 16 times per timeout instead of
// once per request, and an idle one is closed between 15/16 of the
// timeout and the timeout after its last byte. With wholeHead, a message
// head is the exception: it must arrive whole within the timeout of its
// first byte, which later bytes do not push forward, so a client sending
// a head a line at a time cannot hold the connection.
type connReader struct {
	conn      net.Conn
	buf       []byte
	r, w      int // unconsumed bytes are buf[r:w]
	timeout   time.Duration
	deadline  time.Time
	wholeHead bool
	// headDeadline, while set, is the fixed deadline of the head being
	// read.
	headDeadline bool
	// flush, when set, runs before a read that may block, so what was
	// buffered for the other side goes out before waiting.
	flush *bufWriter
}

func (c *connReader) reset(conn net.Conn, timeout time.Duration) {
	c.conn, c.r, c.w, c.timeout, c.deadline, c.flush = conn, 0, 0, timeout, time.Time{}, nil
	c.wholeHead, c.headDeadline = false, false
}

func (c *connReader) buffered() int { return c.w - c.r }

// setTimeout changes the read timeout, applying it on the next read.
func (c *connReader) setTimeout(d time.Duration) {
	if d != c.timeout {
		c.timeout, c.deadline = d, time.Time{}
	}
}

func (c *connReader) extend() error {
	if c.timeout <= 0 || c.headDeadline {
		return nil
	}
	now := time.Now()
	if c.deadline.Sub(now) >= c.timeout-c.timeout/16 {
		return nil
	}
	c.deadline = now.Add(c.timeout)
	return c.conn.SetReadDeadline(c.deadline)
}

// fill reads more bytes after the unconsumed ones, moving those to the
// front of the buffer when it is full.
func (c *connReader) fill() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.w == len(c.buf) {
		if c.r == 0 {
			return errHeadTooLarge
		}
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	if c.flush != nil {
		if err := c.flush.flush(); err != nil {
			return c.flush.failure
		}
	}
	if err := c.extend(); err != nil {
		return err
	}
	for range 100 {
		n, err := c.conn.Read(c.buf[c.w:])
		c.w += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// readHead returns the length of the message head at the start of the
// unconsumed bytes, up to and including its empty line (CRLF or LF),
// reading until it is complete. A head that does not fit the buffer is
// errHeadTooLarge; end of stream before any byte of a head is io.EOF.
func (c *connReader) readHead() (int, error) {
	if c.wholeHead {
		defer c.endHead()
	}
	pos := 0 // start of the line being looked at, from c.r
	for {
		for {
			i := bytes.IndexByte(c.buf[c.r+pos:c.w], '\n')
			if i < 0 {
				break
			}
			if i == 0 || (i == 1 && c.buf[c.r+pos] == '\r') {
				return pos + i + 1, nil
			}
			pos += i + 1
		}
		if c.wholeHead && !c.headDeadline && c.r < c.w && c.timeout > 0 {
			// The head has begun: it has the timeout from now to
			// arrive whole.
			c.headDeadline = true
			c.deadline = time.Now().Add(c.timeout)
			if err := c.conn.SetReadDeadline(c.deadline); err != nil {
				return 0, err
			}
		}
		if err := c.fill(); err != nil {
			if err == io.EOF && c.r < c.w {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
}

// endHead lets reads push the deadline forward again after a head.
func (c *connReader) endHead() {
	if c.headDeadline {
		c.headDeadline = false
		c.deadline = time.Time{} // the next read sets a new one
	}
}

// readLine returns the next line, LF included, and consumes it.
func (c *connReader) readLine() ([]byte, error) {
	pos := 0
	for {
		if i := bytes.IndexByte(c.buf[c.r+pos:c.w], '\n'); i >= 0 {
			line := c.buf[c.r : c.r+pos+i+1]
			c.r += pos + i + 1
			return line, nil
		}
		pos = c.w - c.r
		if err := c.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// copyN copies n bytes to w. It stops early when w fails, returning
// errClientGone or errTargetGone by what w writes to.
func (c *connReader) copyN(w *bufWriter, n int64) error {
	for n > 0 {
		if c.r == c.w {
			if err := c.fill(); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := min(int64(c.w-c.r), n)
		w.write(c.buf[c.r : c.r+int(k)])
		c.r += int(k)
		n -= k
		if w.err != nil {
			return w.failure
		}
	}
	return nil
}

// copyToEOF copies everything until the end of the stream to w.
func (c *connReader) copyToEOF(w *bufWriter) error {
	for {
		if c.r < c.w {
			w.write(c.buf[c.r:c.w])
			c.r = c.w
			if w.err != nil {
				return w.failure
			}
		}
		if err := c.fill(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// Errors of a copy, by the side that failed.
var (
	errClientGone = errors.New("client connection failed")
	errTargetGone = errors.New("target connection failed")
)

// bufWriter buffers small writes to a connection; a write that would
// overflow the buffer flushes it. The first error sticks.
//
// With a timeout, its write deadline follows the writes lazily as
// connReader's read deadline does: a peer that stops reading fails a write
// between 15/16 of the timeout and the timeout after the last one that
// went through.
type bufWriter struct {
	conn     net.Conn
	b        []byte
	err      error
	failure  error // errClientGone or errTargetGone
	timeout  time.Duration
	deadline time.Time
}

// connWrite writes p to the connection, extending the write deadline.
func (w *bufWriter) connWrite(p []byte) error {
	if w.timeout > 0 {
		now := time.Now()
		if w.deadline.Sub(now) < w.timeout-w.timeout/16 {
			w.deadline = now.Add(w.timeout)
			if err := w.conn.SetWriteDeadline(w.deadline); err != nil {
				return err
			}
		}
	}
	_, err := w.conn.Write(p)
	return err
}

func (w *bufWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	if len(w.b)+len(p) > cap(w.b) {
		if w.flush() != nil {
			return
		}
		if len(p) >= cap(w.b) {
			if err := w.connWrite(p); err != nil {
				w.err = err
			}
			return
		}
	}
	w.b = append(w.b, p...)
}

func (w *bufWriter) writeString(s string) {
	if w.err != nil {
		return
	}
	if len(w.b)+len(s) > cap(w.b) {
		w.write([]byte(s))
		return
	}
	w.b = append(w.b, s...)
}

func (w *bufWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.b) == 0 {
		return nil
	}
	err := w.connWrite(w.b)
	w.b = w.b[:0]
	if err != nil {
		w.err = err
	}
	return err
}
