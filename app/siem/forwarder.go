package siem

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
)

// Config configures a Forwarder. Zero durations take the defaults.
type Config struct {
	Store    app.Store
	Target   *Target
	Hostname string // the HOSTNAME field; os.Hostname when empty
	Owner    string // this process's lease identity; random when empty
	Logger   *slog.Logger
	Poll     time.Duration // fallback poll and retry delay (5s)
	LeaseTTL time.Duration // how long a silent sender keeps the lease (30s)
	// ResendWindow: after a broken connection the records written in this
	// window before the break are sent again, since syslog has no
	// acknowledgement and a receiver that died may have lost them (10s).
	ResendWindow time.Duration
	Now          func() time.Time
}

// message is one record of a stream, ready to frame.
type message struct {
	seq   int64
	at    time.Time
	msgID string
	body  []byte
}

// stream is one kind of record sent on the connection with its own cursor:
// audit records, and the signed checkpoints.
type stream struct {
	cursor string
	next   func(ctx context.Context, after int64, limit int) ([]message, error)
}

// Forwarder sends the streams to the target while it holds their lease.
type Forwarder struct {
	cfg     Config
	streams []stream
	wake    chan struct{}
}

const batchSize = 200

// New builds a forwarder of the audit log and its checkpoints.
func New(cfg Config) *Forwarder {
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.ResendWindow <= 0 {
		cfg.ResendWindow = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	cfg.Hostname = headerField(cfg.Hostname, 255)
	if cfg.Owner == "" {
		cfg.Owner = cfg.Hostname + "-" + rand.Text()
	}
	f := &Forwarder{cfg: cfg, wake: make(chan struct{}, 1)}
	f.streams = []stream{{cursor: app.OutboxSyslog, next: f.auditMessages},
		{cursor: app.OutboxSyslogCheckpoints, next: f.checkpointMessages}}
	return f
}

// Notify wakes the forwarder: a record or checkpoint was stored. It never
// blocks.
func (f *Forwarder) Notify() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// AuditJSON is the message body of one audit record: the record exactly
// as stored (app.AuditRecordJSON, the export's shape too), so a receiver
// can recompute hash and follow prev_hash.
func AuditJSON(e *app.AuditEvent) ([]byte, error) {
	return json.Marshal(e.RecordJSON())
}

func (f *Forwarder) auditMessages(ctx context.Context, after int64, limit int) ([]message, error) {
	evs, err := f.cfg.Store.AuditAfter(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]message, len(evs))
	for i := range evs {
		b, err := AuditJSON(&evs[i])
		if err != nil {
			return nil, fmt.Errorf("encode audit record %d: %w", evs[i].ID, err)
		}
		out[i] = message{seq: evs[i].ID, at: evs[i].At, msgID: "audit-" + strconv.FormatInt(evs[i].ID, 10), body: b}
	}
	return out, nil
}

// checkpointMessages are the checkpoints after seq after, each as its
// CheckpointLine (the witness file's format). Seq 0, the empty chain, is
// never sent: the cursor starts there and the genesis hash is public.
func (f *Forwarder) checkpointMessages(ctx context.Context, after int64, limit int) ([]message, error) {
	cs, err := f.cfg.Store.CheckpointsAfter(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]message, len(cs))
	for i := range cs {
		out[i] = message{seq: cs[i].Seq, at: cs[i].At, msgID: "checkpoint-" + strconv.FormatInt(cs[i].Seq, 10),
			body: []byte(cs[i].MarshalLine())}
	}
	return out, nil
}

// frame is RFC 5425 octet counting around an RFC 5424 message: facility
// log audit (13), severity informational (6).
func (f *Forwarder) frame(buf []byte, m message) []byte {
	msg := fmt.Sprintf("<110>1 %s %s nexplane %d %s - %s", m.at.UTC().Format("2006-01-02T15:04:05.000Z"),
		f.cfg.Hostname, os.Getpid(), m.msgID, m.body)
	buf = strconv.AppendInt(buf, int64(len(msg)), 10)
	buf = append(buf, ' ')
	return append(buf, msg...)
}

// headerField makes s a valid RFC 5424 header field: printable US-ASCII,
// at most n characters, "-" when empty.
func headerField(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	if s == "" {
		return "-"
	}
	return s
}

// sent remembers where a write on the current connection began, for the
// resend after a break.
type sent struct {
	stream int
	from   int64 // the position before the write
	at     time.Time
}

// Run forwards until ctx ends: it claims the lease, sends everything after
// each cursor, and waits for Notify or the poll. On an error it records it
// on the cursor, drops the connection and retries after the poll.
func (f *Forwarder) Run(ctx context.Context) {
	var conn net.Conn
	var log []sent
	pos := make([]int64, len(f.streams)) // next read position; -1 = from the cursor
	for i := range pos {
		pos[i] = -1
	}
	closeConn := func() {
		if conn != nil {
			conn.Close()
			conn = nil
		}
	}
	defer closeConn()
	for ctx.Err() == nil {
		held, err := f.claim(ctx)
		switch {
		case err != nil:
			f.cfg.Logger.Warn("siem: claim lease", "err", err)
		case !held:
			closeConn()
			for i := range pos {
				pos[i] = -1 // another server sends; start from its cursor if we take over
			}
		default:
			err = f.drain(ctx, &conn, pos, &log)
			if err != nil && ctx.Err() == nil {
				f.cfg.Logger.Warn("siem: forwarding audit records", "target", f.cfg.Target.String(), "err", err)
				f.recordError(ctx, err)
				closeConn()
				// Resend what the broken connection carried recently.
				cut := f.cfg.Now().Add(-f.cfg.ResendWindow)
				for _, s := range log {
					if s.at.After(cut) && (pos[s.stream] < 0 || s.from < pos[s.stream]) {
						pos[s.stream] = s.from
					}
				}
				log = nil
			}
		}
		t := time.NewTimer(f.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-f.wake:
			if err != nil { // a failing target is retried at the poll, not on every append
				select {
				case <-ctx.Done():
				case <-t.C:
				}
			}
		}
		t.Stop()
	}
}

func (f *Forwarder) claim(ctx context.Context) (bool, error) {
	now := f.cfg.Now()
	var held bool
	err := f.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		for i, s := range f.streams {
			ok, err := tx.ClaimOutbox(ctx, s.cursor, f.cfg.Owner, now, now.Add(f.cfg.LeaseTTL))
			if err != nil {
				return err
			}
			if i == 0 {
				held = ok
			}
		}
		return nil
	})
	return held, err
}

func (f *Forwarder) recordError(ctx context.Context, cause error) {
	msg := cause.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	err := f.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		for _, s := range f.streams {
			if err := tx.SetOutboxError(ctx, s.cursor, msg, f.cfg.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.cfg.Logger.Warn("siem: record delivery error", "err", err)
	}
}

// drain sends every stream up to its head, batch by batch: write, check the
// connection still stands, then advance the cursor. A server crash between
// the write and the advance resends the batch (at-least-once).
func (f *Forwarder) drain(ctx context.Context, conn *net.Conn, pos []int64, log *[]sent) error {
	for i, s := range f.streams {
		if pos[i] < 0 {
			c, err := f.cfg.Store.OutboxCursor(ctx, s.cursor)
			if err != nil {
				return fmt.Errorf("read cursor: %w", err)
			}
			pos[i] = c.LastSeq
		}
		for {
			msgs, err := s.next(ctx, pos[i], batchSize)
			if err != nil {
				return fmt.Errorf("read records: %w", err)
			}
			if len(msgs) == 0 {
				break
			}
			if *conn == nil {
				if *conn, err = f.dial(ctx); err != nil {
					return err
				}
			}
			var buf []byte
			for _, m := range msgs {
				buf = f.frame(buf, m)
			}
			*log = append(*log, sent{stream: i, from: pos[i], at: f.cfg.Now()})
			if err := write(*conn, buf); err != nil {
				return err
			}
			last := msgs[len(msgs)-1].seq
			pos[i] = last
			if err := f.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
				return tx.AdvanceOutbox(ctx, s.cursor, last, f.cfg.Now())
			}); err != nil {
				return fmt.Errorf("advance cursor: %w", err)
			}
			// Forget writes older than the resend window.
			cut := f.cfg.Now().Add(-f.cfg.ResendWindow)
			for len(*log) > 0 && (*log)[0].at.Before(cut) {
				*log = (*log)[1:]
			}
		}
	}
	return nil
}

func (f *Forwarder) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	if f.cfg.Target.TLS == nil {
		c, err := d.DialContext(ctx, "tcp", f.cfg.Target.Addr)
		if err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		return c, nil
	}
	td := &tls.Dialer{NetDialer: d, Config: f.cfg.Target.TLS}
	c, err := td.DialContext(ctx, "tcp", f.cfg.Target.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return c, nil
}

// write sends buf and then checks the receiver has not closed the
// connection: a syslog receiver never sends, so a read that times out means
// it still stands, and EOF or a reset means the bytes may be lost.
func write(c net.Conn, buf []byte) error {
	if err := c.SetWriteDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write(buf); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		return err
	}
	var one [1]byte
	_, err := c.Read(one[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err == nil {
		return errors.New("send: the receiver sent data; syslog receivers never do")
	}
	return fmt.Errorf("send: connection closed by the receiver: %w", err)
}
