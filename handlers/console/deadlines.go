package console

import (
	"time"

	"tinbao/locales"
)

// The clocks a report runs against (see docs/domain.md §4): an urgent one is
// handed on to the competent authority within the hour, any other within a
// day, and decided within 20 days (the Criminal Procedure Code's time for a
// decision on a report; complex cases and extensions are not tracked yet).
const (
	handOnUrgent = time.Hour
	handOnNormal = 24 * time.Hour
	decideWithin = 20 * 24 * time.Hour
)

// Deadline is the clock a report is on now.
type Deadline struct {
	Label string    // what is due: hand on, or decide
	Due   time.Time // when
	State string    // "ok", "soon" (the last quarter of the time), "overdue"; "" when no clock runs
}

// handedOn and decided are the statuses that stop each clock.
var (
	handedOn = map[string]bool{"forwarded": true, "resolved": true, "unfounded": true, "duplicate": true}
	decided  = map[string]bool{"resolved": true, "unfounded": true, "duplicate": true}
)

// deadlineOf says which clock runs for a report and how it stands.
func (c *Console) deadlineOf(created time.Time, urgency, status string, now time.Time) Deadline {
	var id string
	var window time.Duration
	switch {
	case decided[status]:
		return Deadline{}
	case handedOn[status]:
		id, window = "console.deadline.decide", decideWithin
	case urgency == "urgent":
		id, window = "console.deadline.hand_on", handOnUrgent
	default:
		id, window = "console.deadline.hand_on", handOnNormal
	}
	d := Deadline{Label: c.cat.T(locales.Default, id, nil), Due: created.Add(window), State: "ok"}
	switch left := d.Due.Sub(now); {
	case left < 0:
		d.State = "overdue"
	case left < window/4:
		d.State = "soon"
	}
	return d
}
