package flows

import (
	"fmt"
	"strings"
	"time"
)

// vietnam is the time people read and write in: UTC+7 all year (no DST), so
// no time-zone database is needed.
var vietnam = time.FixedZone("ICT", 7*60*60)

// ack writes the acknowledgement of a committed report: the code, who reads
// it and how soon, that it is kept confidential, whether we will write back,
// how to look it up, and what to do in danger. It says only what was agreed.
func (c *turn) ack(f *flow, r *Report) string {
	data := map[string]any{"Reference": string(r.Reference), "Hours": c.e.opts.ResponseHours,
		"Open": clock(c.e.opts.StaffedFrom), "Close": clock(c.e.opts.StaffedTo)}
	first := f.ack
	if sendingNow(c) {
		first = "ack.help_now" // no consent asked: no "only with your consent"
	}
	if c.in.Channel == "sms" {
		// One 160-character segment: no diacritics, nothing optional. When
		// it will be read, as on the other channels: at night, that nobody
		// reads before the staffed hours begin (the danger line after it
		// gives 111 / 113).
		switch {
		case c.offHours():
			data["When"] = c.t("ack.off_hours_sms", data)
		case r.Urgent:
			data["When"] = c.t("ack.urgent_sms", data)
		default:
			data["When"] = c.t("ack.hours_sms", data)
		}
		data["Danger"] = c.t("ack.danger_sms", nil)
		if c.s.Abroad != "" {
			data["Danger"] = c.t("ack.danger_abroad_sms", map[string]any{"Line": c.e.opts.Hotlines.Lines[0].Number})
		}
		return c.t(first+"_sms", data)
	}
	lines := []string{c.t(first, data)}
	if r.Urgent {
		lines = append(lines, c.t("ack.urgent", data))
	} else {
		lines = append(lines, c.t("ack.hours", data))
	}
	if c.offHours() {
		lines = append(lines, c.t("ack.off_hours", data))
	}
	contact := c.s.Answers["now_contact"] != "" || c.s.Answers["contact_how"] != ""
	data["When"] = c.s.Answers["followup_when"] != "" || c.s.Answers["contact_when"] != ""
	switch {
	case contact: // on the web, with what the page cannot do (its _web form)
		lines = append(lines, c.t("ack.contact_as_said", data))
	case c.in.Channel == "web":
		lines = append(lines, c.t("ack.web", data))
	case r.FollowUp:
		lines = append(lines, c.t("ack.followup", data))
	default:
		lines = append(lines, c.t("ack.no_followup", data))
	}
	if c.s.Abroad != "" {
		data["Line"] = c.e.opts.Hotlines.Lines[0].Number
		lines = append(lines, c.t("ack.danger_abroad", data))
	} else {
		lines = append(lines, c.t("ack.danger", data))
	}
	return strings.Join(lines, "\n")
}

// offHours reports whether nobody reads messages now.
func (c *turn) offHours() bool {
	from, to := c.e.opts.StaffedFrom, c.e.opts.StaffedTo
	if from == to || c.in.Now.IsZero() {
		return false
	}
	t := c.in.Now.In(vietnam)
	m := t.Hour()*60 + t.Minute()
	if from < to {
		return m < from || m >= to
	}
	return m < from && m >= to // staffed across midnight
}

func clock(minutes int) string { return fmt.Sprintf("%d:%02d", minutes/60, minutes%60) }

// emergency shows the numbers to call, once per turn: those that work from
// where the person seems to be.
func (c *turn) emergency() {
	text := c.numbers()
	for _, r := range c.replies {
		if r.Text == text {
			return
		}
	}
	c.replies = append(c.replies, Reply{Text: text, Numbers: true})
}

// numbers lists the emergency numbers. Abroad, the first advice is Vietnam's
// citizen-protection line and the embassy, never the local police: people
// held in scam compounds are often guarded with local complicity.
func (c *turn) numbers() string {
	h := c.e.opts.Hotlines
	if c.s.Abroad == "" {
		return c.t("emergency.numbers", map[string]any{"Line": h.Lines[0].Number})
	}
	en := c.s.Lang == "en"
	var b strings.Builder
	line := func(name, number string, verified bool) {
		fmt.Fprintf(&b, "\n• %s: %s", name, number)
		if !verified {
			b.WriteString(" " + c.t("emergency.unverified", nil))
		}
	}
	// The 24/7 line first, then the embassy: a frightened family called
	// the least-checked number first (web trial).
	for i, l := range h.Lines {
		name := l.NameVI
		if en && l.NameEN != "" {
			name = l.NameEN
		}
		line(name, l.Number, l.Verified)
		if country, ok := h.Countries[c.s.Abroad]; ok && country.Number != "" && i == 0 {
			name := country.EmbassyVI
			if en && country.EmbassyEN != "" {
				name = country.EmbassyEN
			}
			line(name, country.Number, country.Verified)
		}
	}
	return c.t("emergency.abroad", map[string]any{"Lines": strings.TrimPrefix(b.String(), "\n")})
}

// noteAbroad remembers a country named in what the person wrote, so the
// numbers they are given work from there.
func (c *turn) noteAbroad(text string) {
	if code := c.e.opts.Hotlines.CountryIn(text); code != "" {
		c.s.Abroad = code
	}
}

// promptData fills the questions that depend on earlier answers.
func (c *turn) promptData() map[string]any {
	country := ""
	code := c.s.Answers["country"]
	if code == "other" {
		code = c.s.Abroad // named in words: "trung quoc"
	}
	if code != "" {
		if ct, ok := c.e.opts.Hotlines.Countries[code]; ok {
			country = ct.NameVI
			if c.s.Lang == "en" && ct.NameEN != "" {
				country = ct.NameEN
			}
		}
	}
	return map[string]any{"Country": country}
}
