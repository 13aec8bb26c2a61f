package sms

import (
	"testing"
	"time"
)

// A provider's time is kept within our clock's bounds, in order; none
// stays none.
func TestProviderTime(t *testing.T) {
	now := time.Now()
	if got := providerTime(time.Time{}); !got.IsZero() {
		t.Errorf("no time became %v", got)
	}
	if at := now.Add(-time.Hour); !providerTime(at).Equal(at) {
		t.Errorf("an hour ago became %v", providerTime(at))
	}
	if got := providerTime(now.Add(time.Hour)); got.After(time.Now().Add(clockAhead)) || got.Before(now.Add(clockAhead)) {
		t.Errorf("an hour ahead became %v, want %v from now", got.Sub(now), clockAhead)
	}
	old, older := providerTime(now.AddDate(-10, 0, 0)), providerTime(now.AddDate(-20, 0, 0))
	if old.Before(now.Add(-retriedWithin)) || older.Sub(old).Abs() > time.Second {
		t.Errorf("ten and twenty years ago became %v and %v", old, older)
	}
}
