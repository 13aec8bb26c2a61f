package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tinbao/flows"
)

// Alarms records who raised the alarm and then went silent: a person whose
// phone was taken after "cứu tôi" sent no report, and their words reached
// no officer. The runner watches them (a row with no words, in Postgres)
// and, once the wait is over, files what they told as an urgent,
// unfinished request (flows.Engine.Unfinished).
type Alarms interface {
	// WatchAlarm starts watching a sender; one already watched keeps its
	// first due time. A watch that starts queues alert (if not nil).
	WatchAlarm(ctx context.Context, channel, sender string, due time.Time, alert *Alert) error
	// DueAlarms leases up to limit due alarms for lease.
	DueAlarms(ctx context.Context, limit int, lease time.Duration) ([]Alarm, error)
	// PostponeAlarm makes an alarm due again at due.
	PostponeAlarm(ctx context.Context, id int64, due time.Time) error
	// SettleAlarm closes an alarm with nothing to file, and says why
	// ("reported" or "dropped").
	SettleAlarm(ctx context.Context, id int64) (string, error)
	// DropAlarm closes the sender's open alarm, if any, with nothing to
	// file: the conversation no longer holds the cry (they cancelled it).
	DropAlarm(ctx context.Context, channel, sender string) error
	// FiledAlarm closes an alarm with the report filed for it (found by
	// its source key).
	FiledAlarm(ctx context.Context, id int64) error
	// FiledSince says whether the sender's cry up to since is already
	// filed (nothing told since).
	FiledSince(ctx context.Context, channel, sender string, since time.Time) (bool, error)
	// Reported says whether the sender committed a report since raising
	// the alarm (false when it cannot tell: the filing's source key still
	// keeps it to one).
	Reported(ctx context.Context, id int64) bool
}

// Alarm is one watched alarm.
type Alarm struct {
	ID      int64
	Channel string
	Sender  string
}

// WatchAlarms makes the runner watch alarms in a, filing a silent person's
// request after silence without a message. Call it before handling
// messages.
func (r *Runner) WatchAlarms(a Alarms, silence time.Duration) {
	r.alarms, r.silence = a, silence
}

// watch watches a sender whose conversation holds an alarm and sent no
// report this turn: on every such turn, so that one who comes back after
// their request was filed and goes silent again is filed again with what
// they added (a watch already open keeps its due time). A failure is
// logged, never the message's, and waits at most a second: the emergency
// numbers must go out whatever Postgres does.
//
// A turn that takes the alarm away (the person cancelled the request that
// held it) closes the watch at once: the sweep would only drop it when due,
// and until then the console showed officers a cry that no longer was.
func (r *Runner) watch(ctx context.Context, m Message, before flows.Session, res flows.Result) {
	if r.alarms == nil || res.Report != nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if !res.Session.Alarmed() {
		// A wipe files the cry (flows.Engine.Hidden), or found it filed:
		// its report settles the watch.
		if before.Alarmed() && !res.Wipe {
			if err := r.alarms.DropAlarm(wctx, m.Channel, m.Sender); err != nil {
				r.log.WarnContext(ctx, "drop alarm", "channel", m.Channel, "err", err)
			}
		}
		return
	}
	var alert *Alert
	if r.officers != nil {
		// Page a human before anything else: the person may answer
		// questions for twenty minutes before they send.
		alert = &Alert{Channel: r.officers.channel, Pseudonym: OfficersPseudonym, Sealed: r.officers.sealed,
			Body: r.engine.AlarmAlert(m.Channel, r.silence, r.officers.consoleURL+"/queue")}
	}
	if err := r.alarms.WatchAlarm(wctx, m.Channel, m.Sender, r.now().Add(r.silence), alert); err != nil {
		r.log.WarnContext(ctx, "watch alarm", "channel", m.Channel, "err", err)
	}
}

// hiddenFiled says whether a report filed for a wipe (flows.WipedKey) only
// repeats what a silence filing already sent: the same words, nothing
// added since. Unsure (no alarms, or Postgres failing) it says no: a
// duplicate is better than a lost cry.
func (r *Runner) hiddenFiled(ctx context.Context, m Message, rep *flows.Report) bool {
	if r.alarms == nil || rep == nil || rep.Details[flows.WipedKey] != "yes" || len(rep.Distress) == 0 {
		return false
	}
	filed, err := r.alarms.FiledSince(ctx, m.Channel, m.Sender, rep.Distress[len(rep.Distress)-1].At)
	if err != nil {
		r.log.WarnContext(ctx, "alarm filed", "message", m, "err", err)
		return false
	}
	return filed
}

// alarmLease is how long a replica holds a due alarm while filing it.
const alarmLease = 2 * time.Minute

// SweepAlarms files what each due alarm's silent sender told, unless they
// are still writing (then it waits for their silence) or no longer hold an
// alarm (they sent it, cancelled or wiped: settled). It returns how many it
// filed.
func (r *Runner) SweepAlarms(ctx context.Context) (int, error) {
	if r.alarms == nil {
		return 0, nil
	}
	due, err := r.alarms.DueAlarms(ctx, 50, alarmLease)
	if err != nil {
		return 0, err
	}
	filed := 0
	for _, a := range due {
		ok, err := r.sweep(ctx, a)
		if err != nil {
			r.log.WarnContext(ctx, "alarm", "id", a.ID, "err", err) // leased: tried again when the lease ends
			continue
		}
		if ok {
			filed++
		}
	}
	return filed, nil
}

func (r *Runner) sweep(ctx context.Context, a Alarm) (bool, error) {
	// The sender's lock, as a message takes it, so that a message arriving
	// now waits; never saved, so the conversation stays as the person left
	// it. The ID is never marked handled.
	m := Message{Channel: a.Channel, Sender: a.Sender, MessageID: fmt.Sprintf("alarm:%d", a.ID)}
	token := newToken()
	b, err := r.sessions.Begin(ctx, m.Channel, m.MessageID, m.Sender, token, 0)
	if errors.Is(err, ErrBusy) {
		// Writing this very moment: look again soon, not when the lease
		// ends (a person writing every second was filed two minutes late).
		return false, r.alarms.PostponeAlarm(ctx, a.ID, r.now().Add(min(r.silence, 5*time.Second)))
	}
	if err != nil {
		return false, err
	}
	defer r.release(ctx, m.Sender, token)
	s := b.Session
	if last := time.Unix(s.Touched, 0); s.Touched != 0 && r.now().Sub(last) < r.silence {
		return false, r.alarms.PostponeAlarm(ctx, a.ID, last.Add(r.silence))
	}
	if r.engine.Unfinished(s, a.Channel, "") == nil || r.alarms.Reported(ctx, a.ID) {
		// Nothing to file, or the person sent a report since the alarm
		// (its conversation not saved after: the alarm stayed in it).
		outcome, err := r.alarms.SettleAlarm(ctx, a.ID)
		if err == nil {
			r.log.InfoContext(ctx, "alarm settled", "channel", a.Channel, "outcome", outcome)
		}
		return false, err
	}
	// One filing per alarm: its source key is the alarm's, so a second
	// try after a lost answer finds it filed.
	filed, err := r.fileCry(ctx, m, "", "", func(ref flows.Reference) *flows.Report { return r.engine.Unfinished(s, a.Channel, ref) })
	if err != nil {
		return false, err
	}
	if err := r.alarms.FiledAlarm(ctx, a.ID); err != nil {
		return false, err
	}
	return filed, nil
}

// fileCry commits the request build makes for a cry for help (a silence or
// a wipe filing), drawing another code while one is taken. It reports
// whether this try committed it: false when an earlier try had
// (ErrDuplicate, not an error). by, if not empty, says in the log what
// filed it.
func (r *Runner) fileCry(ctx context.Context, m Message, draft, by string, build func(flows.Reference) *flows.Report) (bool, error) {
	for attempt := 0; ; attempt++ {
		rep := build(newReference())
		err := r.commit(ctx, m, draft, rep)
		switch {
		case errors.Is(err, ErrReferenceTaken) && attempt < 5:
			continue
		case errors.Is(err, ErrDuplicate):
			return false, nil
		case err != nil:
			return false, err
		}
		attrs := []any{"channel", m.Channel, "reference", string(rep.Reference)}
		if by != "" {
			attrs = append(attrs, "by", by)
		}
		r.log.InfoContext(ctx, "unfinished request filed", attrs...)
		if r.observer != nil {
			r.observer.Committed(m.Channel, rep.Kind, true)
		}
		return true, nil
	}
}
