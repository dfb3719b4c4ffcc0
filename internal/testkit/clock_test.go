package testkit_test

import (
	"testing"
	"time"

	"github.com/nexplane/nexplane/internal/testkit"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	frozen := testkit.NewClock(start)
	if got := frozen.Now(); !got.Equal(start) {
		t.Fatalf("frozen clock at %v, want %v", got, start)
	}
	frozen.Advance(time.Hour)
	if got := frozen.Now(); !got.Equal(start.Add(time.Hour)) {
		t.Fatalf("after Advance: %v, want %v", got, start.Add(time.Hour))
	}

	before := time.Now()
	following := testkit.NewRealClock()
	following.Advance(time.Hour)
	got := following.Now()
	if got.Location() != time.UTC || got.Before(before.Add(time.Hour)) || got.After(time.Now().Add(time.Hour)) {
		t.Fatalf("real clock advanced by an hour reads %v, want between %v and now+1h", got, before.Add(time.Hour))
	}
}
