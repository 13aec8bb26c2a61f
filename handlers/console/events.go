package console

import (
	"maps"
	"slices"
	"strings"
	"time"

	"tinbao/locales"
	"tinbao/storage"
)

// timelineEntry is one line of a report's history: an audit entry, or a
// run of the same one (an officer reloading the page is audited each time,
// and twenty "opened" lines hid the three that mattered).
type timelineEntry struct {
	storage.Event
	Times int
	Last  time.Time
}

// timeline folds runs of the same entry (same officer, action and details)
// into one line with how many times and when last, and leaves out the
// opening of the page that follows an officer's own action on it (the
// page reloads after each: four actions made ten lines).
func timeline(events []storage.Event) []timelineEntry {
	var out []timelineEntry
	for _, e := range events {
		if n := len(out); n > 0 {
			prev := &out[n-1]
			if e.Action == "tip.viewed" && prev.Action != "tip.viewed" && prev.Actor == e.Actor &&
				e.At.Sub(prev.Last) < 5*time.Second {
				continue
			}
			if prev.Actor == e.Actor && prev.Action == e.Action && maps.Equal(prev.Details, e.Details) {
				prev.Times++
				prev.Last = e.At
				continue
			}
		}
		out = append(out, timelineEntry{Event: e, Times: 1, Last: e.At})
	}
	return out
}

// eventWords puts an audit entry's details in an officer's words, in a
// fixed order: "Mới → Đang xem", "đơn vị Công an tỉnh Đồng Tháp", "từ máy
// 10.0.0.4", not "from=new to=in_review unit=5". A key it does not know
// still shows, as key=value, so nothing recorded is hidden from the page.
func (c *Console) eventWords(action string, details map[string]string) []string {
	left := maps.Clone(details)
	take := func(k string) (string, bool) {
		v, ok := left[k]
		delete(left, k)
		return v, ok && v != ""
	}
	var out []string
	say := func(id, v string) {
		out = append(out, c.cat.T(locales.Default, "console.detail."+id, map[string]any{"V": v}))
	}
	switch {
	case action == "tip.status_changed":
		from, _ := take("from")
		to, _ := take("to")
		out = append(out, c.named("console.status.", from)+" → "+c.named("console.status.", to))
	case action == "tip.assigned":
		if to, ok := take("to"); ok {
			say("to", to)
		}
	case strings.HasPrefix(action, "sender."):
		if kind, ok := take("kind"); ok {
			out = append(out, c.named("console.flag.kind_", kind))
		}
	case strings.HasPrefix(action, "datareq."):
		if kind, ok := take("kind"); ok {
			out = append(out, c.named("console.datareq.kind.", kind))
		}
		if st, ok := take("status"); ok {
			out = append(out, c.named("console.datareq.status.", st))
		}
		if reason, ok := take("reason"); ok {
			out = append(out, c.named("console.datareq.reason.", reason))
		}
	}
	if name, ok := take("unit_name"); ok {
		take("unit")
		say("unit", name)
	}
	if shared, present := details["shared"]; present { // empty: nothing shared, said so
		take("shared")
		say("shared", c.sharedWords(shared))
	}
	if v, ok := take("emergency"); ok && v == "true" {
		say("emergency", "")
	}
	if ch, ok := take("channel"); ok {
		say("channel", c.named("console.channel.", ch))
	}
	if days, ok := take("days"); ok {
		say("days", days)
	}
	if until, ok := take("until"); ok {
		if at, err := time.Parse(time.RFC3339Nano, until); err == nil {
			until = at.In(vietnam).Format("02/01/2006 15:04")
		}
		say("until", until)
	}
	if why, ok := take("why"); ok {
		say("why", c.named("console.detail.why_", why))
	}
	for _, k := range []string{"into", "request", "referral", "media", "from", "by", "rows", "username", "role", "name"} {
		if v, ok := take(k); ok {
			if k == "role" {
				v = c.named("console.role.", v)
			}
			say(k, v)
		}
	}
	if v, ok := take("factor"); ok && v == "totp" {
		say("totp", "")
	}
	rest := make([]string, 0, len(left))
	for k, v := range left {
		rest = append(rest, k+"="+v)
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// sharedWords names the answers a referral shared, as the report page
// labels them ("Lời người gửi nhắn, Nguy hiểm ngay lúc này").
func (c *Console) sharedWords(list string) string {
	if list == "" {
		return c.cat.T(locales.Default, "console.detail.shared_none", nil)
	}
	keys := strings.Split(list, ",")
	names := make([]string, len(keys))
	for i, k := range keys {
		if k == "distress" { // the alarm's words, not an answer
			names[i] = c.cat.T(locales.Default, "console.tip.distress", nil)
			continue
		}
		names[i] = c.engine.LabelOf(k)
	}
	return strings.Join(names, ", ")
}

// named is the officer's word for a stored code (an audit action, an
// outbox kind or status, a channel): prefix+code, dots as underscores, in
// the messages; the code itself when it has none, so a new code shows up,
// untranslated, rather than blank.
func (c *Console) named(prefix, code string) string {
	id := prefix + strings.ReplaceAll(code, ".", "_")
	if s := c.cat.T(locales.Default, id, nil); s != id {
		return s
	}
	return code
}

// reasons are the outbox's failure reasons an officer is told in words: the
// delivery records the sender's error (bot.ErrOptedOut: "undeliverable: the
// person asked for no more messages (STOP)"), which is English for the
// operators' logs.
var reasons = []struct{ in, id string }{
	{"the person asked for no more messages", "console.outbox.reason_opted_out"},
}

// knownReason says why a message was not delivered, in the officer's words,
// or "" when the reason is not one of reasons.
func (c *Console) knownReason(raw string) string {
	for _, r := range reasons {
		if strings.Contains(raw, r.in) {
			return c.cat.T(locales.Default, r.id, nil)
		}
	}
	return ""
}

// reason is knownReason, or the recorded reason as it is.
func (c *Console) reason(raw string) string {
	if s := c.knownReason(raw); s != "" {
		return s
	}
	return raw
}
