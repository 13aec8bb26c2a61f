package flows

import "time"

// AlertInfo is what an alert to the officers' group may say about a report:
// its code, kind, category, urgency and age, and a link to the console.
// Never free text from the reporter, never anything that identifies them.
type AlertInfo struct {
	Reference Reference
	Kind      Kind
	Category  string // an option ID of the report flow's category question
	Urgent    bool
	Age       time.Duration
	Link      string
	Deadline  bool // the report's deadline is near and nobody took it
}

// Alert writes an alert for the officers' group, in Vietnamese.
func (e *Engine) Alert(a AlertInfo) string {
	c := &turn{e: e, s: Session{Lang: "vi"}}
	kind := c.t("alert.kind_tip", nil)
	if a.Kind == KindHelp {
		kind = c.t("alert.kind_help", nil)
	}
	category := c.t("common.not_given", nil)
	if a.Category != "" {
		if id := categoryLabel(a.Category); id != "" {
			category = c.t(id, nil)
		}
	}
	urgency := c.t("alert.normal", nil)
	if a.Urgent {
		urgency = c.t("alert.urgent", nil)
	}
	id := "alert.new"
	if a.Deadline {
		id = "alert.deadline"
	}
	return c.t(id, map[string]any{
		"Reference": string(a.Reference), "Kind": kind, "Category": category, "Urgency": urgency,
		"Age": c.age(a.Age), "Link": a.Link,
	})
}

// categoryLabel finds the label of a category option.
func categoryLabel(id string) string {
	for _, st := range reportFlow().steps {
		if st.id != "category" {
			continue
		}
		for _, o := range st.options {
			if o.id == id {
				return o.label
			}
		}
	}
	return ""
}

// age says how old a report is, roughly: "12 phút", "3 giờ", "2 ngày".
func (c *turn) age(d time.Duration) string {
	switch {
	case d < time.Hour:
		return c.t("alert.age_minutes", map[string]any{"Count": int(d.Minutes())})
	case d < 48*time.Hour:
		return c.t("alert.age_hours", map[string]any{"Count": int(d.Hours())})
	}
	return c.t("alert.age_days", map[string]any{"Count": int(d.Hours() / 24)})
}
