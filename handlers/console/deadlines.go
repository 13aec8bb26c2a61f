package console

import (
	"time"

	"tinbao/locales"
	"tinbao/storage"
)

// The clocks a report runs against (see docs/domain.md §4): an urgent one is
// handed on to the competent authority within the hour, any other within a
// day, and decided within 20 days (the Criminal Procedure Code's time for a
// decision on a report), 2 months if complex, plus one extension of 2 months.
const (
	handOnUrgent  = time.Hour
	handOnNormal  = 24 * time.Hour
	decideWithin  = 20 * 24 * time.Hour
	decideComplex = 60 * 24 * time.Hour // "up to 2 months"
	extension     = 60 * 24 * time.Hour // one extension "up to 2 months"
)

// clock is what decides a report's deadline.
type clock struct {
	Created           time.Time
	Urgency, Status   string
	Complex, Extended bool
}

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
func (c *Console) deadlineOf(k clock, now time.Time) Deadline {
	created, urgency, status := k.Created, k.Urgency, k.Status
	var id string
	var window time.Duration
	switch {
	case decided[status]:
		return Deadline{}
	case handedOn[status]:
		id, window = "console.deadline.decide", decideWithin
		if k.Complex {
			window = decideComplex
		}
		if k.Extended {
			window += extension
		}
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

func clockOf(q storage.QueueItem) clock {
	return clock{Created: q.CreatedAt, Urgency: q.Urgency, Status: q.Status, Complex: q.Complex, Extended: q.Extended}
}
