package main

import (
	"github.com/prometheus/client_golang/prometheus"

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
