package flows

// The help flow, for a victim or someone close to one, in the order of
// docs/domain.md §6.2: safety first, danger second (the emergency numbers at
// once), then only what is needed to help, and separate consents, none
// chosen in advance. Every question can be skipped.

import (
	"slices"
	"strings"
)

const helpFlowName = "help"

func helpFlow() *flow {
	consent := func(id, prompt, label string) step {
		return step{id: id, prompt: prompt, label: label, input: inputPick, optional: true, when: notSMS,
			options: []option{
				{id: "yes", label: "consent.yes", aliases: yes.aliases},
				{id: "no", label: "consent.no", aliases: no.aliases},
			}}
	}
	return &flow{
		name:  helpFlowName,
		kind:  KindHelp,
		ack:   "ack.help",
		title: "help.summary",
		story: "story",
		steps: []step{
			// Asked only when editing: it holds the words of a first
			// message that asked for help ("cứu tôi, họ không cho về").
			{id: "story", prompt: "help.story", label: "help.label.story", input: inputText, optional: true,
				when: func(c *turn) bool { return c.s.Answers["story"] != "" }},
			{id: "safe", prompt: "help.safe", label: "help.label.safe", input: inputPick, optional: true,
				options: []option{yes, no},
				after: func(c *turn, answer string) string {
					if answer == "no" {
						c.say(c.t("help.not_safe", nil))
					}
					return ""
				}},
			{id: "danger", prompt: "help.danger", label: "help.label.danger", input: inputPick, optional: true, dangerYes: true,
				options: []option{yes, no},
				after: func(c *turn, answer string) string {
					if answer == "yes" {
						c.s.Urgent = true
						c.emergency()
						return "go_on"
					}
					return "who"
				}},
			{id: "go_on", prompt: "help.go_on", label: "help.label.go_on", input: inputPick,
				when: func(c *turn) bool { return c.s.Answers["danger"] == "yes" },
				options: []option{
					{id: "send_now", label: "help.send_now", aliases: []string{"gui ngay", "gui"}},
					{id: "continue", label: "help.continue", aliases: []string{"tiep tuc", "tiep"}},
				},
				after: func(c *turn, answer string) string {
					if answer == "send_now" {
						return "now_where"
					}
					return ""
				}},
			// Sending now: two short questions, each skippable, then the
			// request goes at once.
			{id: "now_where", prompt: "help.now_where", label: "help.label.where", input: inputText, optional: true, place: true,
				when: sendingNow},
			{id: "now_contact", prompt: "help.now_contact", label: "help.label.now_contact", input: inputText, optional: true, contact: true,
				when: sendingNow,
				after: func(c *turn, answer string) string {
					return submitNow
				}},
			{id: "who", prompt: "help.who", label: "help.label.who", input: inputPick, optional: true,
				options: []option{
					{id: "self", label: "who.self"},
					{id: "family", label: "who.family"},
					{id: "acquaintance", label: "who.acquaintance"},
					{id: "witness", label: "who.witness"},
					{id: "organisation", label: "who.organisation"},
				}},
			{id: "where", prompt: "help.where", label: "help.label.where", input: inputText, optional: true, place: true},
			{id: "needs", prompt: "help.needs", label: "help.label.needs", input: inputMulti, optional: true,
				options: []option{
					{id: "medical", label: "need.medical"},
					{id: "shelter", label: "need.shelter"},
					{id: "essentials", label: "need.essentials"},
					{id: "home", label: "need.home"},
					{id: "legal", label: "need.legal"},
					{id: "talk", label: "need.talk"},
					{id: "interpreter", label: "need.interpreter"},
					{id: "family", label: "need.family"},
					{id: "police", label: "need.police"},
				}},
			// We write first only where we can: not to a web page that may
			// be closed. There, a safe way to reach the person instead.
			{id: "contact_first", prompt: "help.contact_first", label: "help.label.contact_first", input: inputPick, optional: true,
				options: []option{yes, no},
				when:    func(c *turn) bool { return c.in.Channel != "web" }},
			{id: "contact_when", prompt: "help.contact_when", label: "help.label.contact_when", input: inputText, optional: true, contact: true,
				when: func(c *turn) bool { return c.s.Answers["contact_first"] == "yes" && c.in.Channel != "web" }},
			{id: "contact_how", prompt: "help.contact_how", label: "help.label.contact_how", input: inputText, optional: true, contact: true,
				when: func(c *turn) bool { return c.in.Channel == "web" }},
			consent("consent_police", "help.consent_police", "help.label.consent_police"),
			consent("consent_support", "help.consent_support", "help.label.consent_support"),
			consent("consent_followup", "help.consent_followup", "help.label.consent_followup"),
			// On SMS the three consents come in one text, each its own
			// number, none chosen in advance: only the numbers sent count.
			{id: "consents", prompt: "help.consents", label: "help.label.consents", input: inputMulti, optional: true,
				when: func(c *turn) bool { return c.in.Channel == "sms" },
				options: []option{
					{id: "police", label: "help.label.consent_police"},
					{id: "support", label: "help.label.consent_support"},
					{id: "followup", label: "help.label.consent_followup"},
				}},
			{id: "summary", input: inputSummary},
		},
		// Consents given on SMS read as the three separate answers.
		finish: func(c *turn, details map[string]string) {
			v, ok := details["consents"]
			if !ok {
				return
			}
			for _, k := range []string{"police", "support", "followup"} {
				details["consent_"+k] = "no"
				if slices.Contains(strings.Split(v, ","), k) {
					details["consent_"+k] = "yes"
				}
			}
		},
		// Only a person who said we may write first is written to first,
		// or who, sending in danger, told us how to reach them.
		followUp: func(c *turn) bool {
			consented := c.s.Answers["consent_followup"] == "yes" ||
				slices.Contains(strings.Split(c.s.Answers["consents"], ","), "followup")
			return (c.s.Answers["contact_first"] == "yes" && consented) || c.s.Answers["now_contact"] != ""
		},
	}
}

func sendingNow(c *turn) bool { return c.s.Answers["go_on"] == "send_now" }
