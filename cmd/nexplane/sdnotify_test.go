package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeNotifiesSystemd runs `nexplane serve` with a NOTIFY_SOCKET and a
// watchdog, as systemd would for Type=notify, and reads what it sends.
func TestServeNotifiesSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := newCLI(t)
	c.env["NOTIFY_SOCKET"] = sock
	c.env["WATCHDOG_USEC"] = "400000" // keep-alive every 200 ms
	startServer(t, c)

	want := []string{"READY=1", "WATCHDOG=1"}
	buf := make([]byte, 256)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for len(want) > 0 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %v: %v", want, err)
		}
		if got := strings.TrimSpace(string(buf[:n])); got == want[0] {
			want = want[1:]
		}
	}
}

func TestWatchdogInterval(t *testing.T) {
	cases := []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"junk", "", 0},
		{"30000000", "", 15 * time.Second},
		{"30000000", "42", 15 * time.Second},
		{"30000000", "7", 0}, // meant for another process
	}
	for _, c := range cases {
		env := map[string]string{"WATCHDOG_USEC": c.usec, "WATCHDOG_PID": c.pid}
		if got := watchdogInterval(func(k string) string { return env[k] }, 42); got != c.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, want %v", c.usec, c.pid, got, c.want)
		}
	}
	if err := sdNotify(func(string) string { return "" }, "READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
}
