package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"tinbao/bot/sms"
	"tinbao/flows"
)

// intakeMetrics counts what the bot runner does, in this replica: the
// intake side of /metrics (the console reads the rest from Postgres).
type intakeMetrics struct {
	messages  *prometheus.CounterVec
	committed *prometheus.CounterVec
}

func newIntakeMetrics() *intakeMetrics {
	return &intakeMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tinbao_messages_total",
			Help: "Inbound messages by channel and outcome (handled, duplicate, failed; capped: handled in a flood, not answered), in this replica."},
			[]string{"channel", "outcome"}),
		committed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tinbao_reports_committed_total",
			Help: "Reports made durable, by channel, kind and urgency, in this replica."},
			[]string{"channel", "kind", "urgency"}),
	}
}

func (m *intakeMetrics) Message(channel, outcome string) {
	m.messages.WithLabelValues(channel, outcome).Inc()
}

func (m *intakeMetrics) Committed(channel string, kind flows.Kind, urgent bool) {
	urgency := "normal"
	if urgent {
		urgency = "urgent"
	}
	m.committed.WithLabelValues(channel, string(kind), urgency).Inc()
}

func (m *intakeMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.messages, m.committed}
}

// heldCollectors show SMS kept until they can be handled (sms.Adapter's
// queues): a figure above zero for long means Postgres, or something else
// a message needs, has been away that long; anything set aside needs a look.
func heldCollectors(a *sms.Adapter) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tinbao_sms_held_senders",
			Help: "Senders whose SMS (Twilio) wait to be handled, as this replica's replayer last saw (each second)."},
			func() float64 { w, _ := a.HeldFigures(); return float64(w) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tinbao_sms_set_aside_total",
			Help: "SMS set aside by this replica (unreadable, two days old, or failing with Postgres answering): each is logged, and kept a week."},
			func() float64 { _, n := a.HeldFigures(); return float64(n) }),
	}
}
