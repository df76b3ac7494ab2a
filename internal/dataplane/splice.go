package dataplane

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// How a TCP flow's bytes move. Each direction waits for its source socket
// to be readable while holding nothing but the socket: a read callback of
// syscall.RawConn reports "not yet" until the socket has data or its end.
// Then it takes a pipe pair from the plane's bounded pool, splices what the
// socket holds into the pipe and from the pipe into the destination, and
// gives the pipe back as soon as the source would block. An idle flow
// therefore costs its two sockets and no other descriptor, and a pipe is
// held only while it carries data (or while a destination that does not
// read keeps data in it). When every pipe of the pool is in use, a
// direction copies through a pooled user-space buffer instead, so a flow
// never waits for a pipe. The transfer path does not allocate.

const (
	// pipeSize is the capacity asked of each pipe, as Go's own splice
	// uses: one splice call moves up to this much.
	pipeSize = 1 << 20
	// idlePipes is how many empty pipes the pool keeps open for reuse;
	// pipes given back beyond it are closed at once.
	idlePipes = 16
	// copyBufSize is the buffer of a direction that found no free pipe.
	copyBufSize = 32 << 10
	spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE
)

// splicePipe is a pipe's read and write ends.
type splicePipe struct{ r, w int }

func newPipe() (*splicePipe, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	// A smaller pipe works too, with more calls: ignore a refusal (the
	// user's pipe-user-pages-soft may be used up).
	_, _ = unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, pipeSize)
	return &splicePipe{r: fds[0], w: fds[1]}, nil
}

func (p *splicePipe) close() {
	_ = unix.Close(p.r)
	_ = unix.Close(p.w)
}

// pipePool hands out at most max pipes at once.
type pipePool struct {
	mu   sync.Mutex
	max  int
	open int // pipes open: in use or free
	free []*splicePipe
}

// get returns an empty pipe, or nil when max pipes are in use (or no
// pipe can be opened).
func (pp *pipePool) get() *splicePipe {
	pp.mu.Lock()
	if n := len(pp.free); n > 0 {
		p := pp.free[n-1]
		pp.free = pp.free[:n-1]
		pp.mu.Unlock()
		return p
	}
	if pp.open >= pp.max {
		pp.mu.Unlock()
		return nil
	}
	pp.open++
	pp.mu.Unlock()
	p, err := newPipe()
	if err != nil {
		pp.mu.Lock()
		pp.open--
		pp.mu.Unlock()
		return nil
	}
	return p
}

// put gives back a pipe; one that may still hold data is closed.
func (pp *pipePool) put(p *splicePipe, empty bool) {
	pp.mu.Lock()
	if empty && len(pp.free) < idlePipes {
		pp.free = append(pp.free, p)
		pp.mu.Unlock()
		return
	}
	pp.open--
	pp.mu.Unlock()
	p.close()
}

// close closes the free pipes; pipes in use are closed when given back.
func (pp *pipePool) close() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, p := range pp.free {
		p.close()
	}
	pp.open -= len(pp.free)
	pp.free = nil
}

var copyBufs = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// direction moves one direction of a TCP flow: src's bytes to dst.
type direction struct {
	src, dst       *net.TCPConn
	srcRaw, dstRaw syscall.RawConn
	pipes          *pipePool
	// active receives the clock's UnixNano when data is read, before
	// it is written on.
	active *atomic.Int64
	now    func() time.Time
	// fill and drain are the RawConn callbacks, bound once per flow so
	// that a transfer does not allocate.
	fill, drain func(fd uintptr) bool

	pipe    *splicePipe        // held from the first byte until src would block
	buf     *[copyBufSize]byte // instead of pipe when the pool had none
	pending int                // bytes in pipe or buf not yet written to dst
	eof     bool
	err     error
}

func newDirection(dst, src *net.TCPConn, pipes *pipePool, active *atomic.Int64, now func() time.Time) (*direction, error) {
	d := &direction{src: src, dst: dst, pipes: pipes, active: active, now: now}
	var err error
	if d.srcRaw, err = src.SyscallConn(); err != nil {
		return nil, err
	}
	if d.dstRaw, err = dst.SyscallConn(); err != nil {
		return nil, err
	}
	d.fill, d.drain = d.fillFrom, d.drainTo
	return d, nil
}

// transfer waits until src is readable, then moves what it holds to dst.
// It returns the bytes moved, and io.EOF at src's end of stream; a read
// deadline on src ends the wait with os.ErrDeadlineExceeded.
func (d *direction) transfer() (int, error) {
	d.eof, d.err = false, nil
	if err := d.srcRaw.Read(d.fill); err != nil {
		return 0, err
	}
	if d.err != nil {
		return 0, d.err
	}
	if d.eof {
		return 0, io.EOF
	}
	d.active.Store(d.now().UnixNano())
	n := d.pending
	if d.buf != nil {
		_, err := d.dst.Write(d.buf[:n])
		d.pending = 0
		d.release()
		return n, err
	}
	if err := d.dstRaw.Write(d.drain); err != nil {
		return n - d.pending, err
	}
	return n - d.pending, d.err
}

// fillFrom is src's read callback: it moves what src holds into the pipe
// (or buffer), and reports false, holding nothing, when src would block.
func (d *direction) fillFrom(fd uintptr) bool {
	if d.pipe == nil && d.buf == nil {
		if d.pipe = d.pipes.get(); d.pipe == nil {
			d.buf = copyBufs.Get().(*[copyBufSize]byte)
		}
	}
	for {
		var n int
		var err error
		if d.pipe != nil {
			var n64 int64
			n64, err = unix.Splice(int(fd), nil, d.pipe.w, nil, pipeSize, spliceFlags)
			n = int(n64)
		} else {
			n, err = unix.Read(int(fd), d.buf[:])
		}
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			d.release()
			return false
		case err != nil:
			d.err = err
		case n == 0:
			d.eof = true
		default:
			d.pending = n
			return true
		}
		d.release()
		return true
	}
}

// drainTo is dst's write callback: it empties the pipe into dst, and
// reports false, keeping the pipe, while dst has no room.
func (d *direction) drainTo(fd uintptr) bool {
	for d.pending > 0 {
		n, err := unix.Splice(d.pipe.r, nil, int(fd), nil, d.pending, spliceFlags)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil:
			d.err = err
			return true
		case n == 0:
			d.err = io.ErrNoProgress
			return true
		}
		d.pending -= int(n)
	}
	return true
}

func (d *direction) setReadDeadline(t time.Time) error { return d.src.SetReadDeadline(t) }

func (d *direction) closeWrite() error { return d.dst.CloseWrite() }

// release gives back the pipe or buffer; a pipe that still holds data
// (dst failed) is closed.
func (d *direction) release() {
	if d.pipe != nil {
		d.pipes.put(d.pipe, d.pending == 0)
		d.pipe = nil
	}
	if d.buf != nil {
		copyBufs.Put(d.buf)
		d.buf = nil
	}
	d.pending = 0
}
