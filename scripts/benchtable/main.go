// Command benchtable reads `go test -bench` output on stdin and prints
// tinbao's figures (docs/performance.md) as one table: figure, value,
// bound, ratio, target, met. With -json FILE it also writes the table
// there as JSON. A benchmark that did not run is "not measured"; a missed
// target is printed as missed, never hidden.
//
//	go test -run '^$' -bench . ./... | go run ./scripts/benchtable -json bench/results/latest.json
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// metrics maps a benchmark's name (without -GOMAXPROCS) to its metrics by
// unit; with -count > 1, the values of every run.
type metrics map[string]map[string][]float64

// parse reads benchmark result lines: name, iterations, then value/unit
// pairs. Other lines are passed through to w, so nothing is lost.
func parse(r io.Reader, w io.Writer) (metrics, error) {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(w, line)
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		if m[name] == nil {
			m[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			m[name][f[i+1]] = append(m[name][f[i+1]], v)
		}
	}
	return m, sc.Err()
}

// median of a metric over the runs, and whether it was measured.
func (m metrics) get(bench, unit string) (float64, bool) {
	vs := m[bench][unit]
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2], true
}

// Row is one figure of the table.
type Row struct {
	Figure    string   `json:"figure"`
	Benchmark string   `json:"benchmark"`
	Value     string   `json:"value"`
	Bound     string   `json:"bound"`
	Ratio     *float64 `json:"ratio,omitempty"`
	Target    string   `json:"target"`
	Met       string   `json:"met"` // yes, NO, not measured
}

// figure says how one row is read from the metrics.
type figure struct {
	name, bench string
	unit        string                                                  // for a figure any benchmark may report (bench "")
	value       func(metrics) (string, string, *float64, float64, bool) // value, bound, ratio, checked, measured
	target      string
	met         func(float64) bool
}

func ratioFigure(name, bench, unit, boundUnit, ratioUnit string, min float64) figure {
	return figure{name: name, bench: bench, target: fmt.Sprintf("ratio ≥ %.2f", min), met: func(r float64) bool { return r >= min },
		value: func(m metrics) (string, string, *float64, float64, bool) {
			r, ok := m.get(bench, ratioUnit)
			if !ok {
				return "", "", nil, 0, false
			}
			return show(m, bench, unit), show(m, bench, boundUnit), &r, r, true
		}}
}

// yardstick is a ratio with no target of its own, read beside one that has.
func yardstick(name, bench string) figure {
	f := ratioFigure(name, bench, "steps/s", "hello/s", "ratio_to_bound", 0)
	f.target = "—"
	return f
}

// maxFigure is a value with an upper bound; with bench "", whichever
// benchmark reports unit.
// show is a metric with its unit, or "" when the benchmark does not report it.
func show(m metrics, bench, unit string) string {
	if v, ok := m.get(bench, unit); ok {
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	return ""
}

func maxFigure(name, bench, unit, target string, max float64) figure {
	return figure{name: name, bench: bench, unit: unit, target: target, met: func(v float64) bool { return v <= max },
		value: func(m metrics) (string, string, *float64, float64, bool) {
			if bench == "" {
				bench = m.find(unit)
			}
			v, ok := m.get(bench, unit)
			if !ok {
				return "", "", nil, 0, false
			}
			return fmt.Sprintf("%g %s", v, unit), "", nil, v, true
		}}
}

// figures are docs/performance.md's, in its order.
var figures = []figure{
	ratioFigure("Intake step (16 at once)", "BenchmarkTelegramIntakeStep", "steps/s", "hello/s", "ratio_to_bound", 0.40),
	yardstick("  floor: any handler, 0 Redis round trips", "BenchmarkTelegramFloor/0"),
	yardstick("  floor: any handler, 1 Redis round trip", "BenchmarkTelegramFloor/1"),
	yardstick("  floor: any handler, 2 Redis round trips", "BenchmarkTelegramFloor/2"),
	ratioFigure("Whole conversations (16 users)", "BenchmarkTelegramConversations", "webhooks/s", "hello/s", "ratio_to_bound", 0.25),
	ratioFigure("Commit (16 at once)", "BenchmarkCommitTip", "commits/s", "inserts/s", "ratio_to_bound", 0.60),
	{name: "Commit → ack p50 (one at a time)", bench: "BenchmarkCommitToAck", target: "p50 ≤ 10 ms",
		met: func(v float64) bool { return v <= 10 },
		value: func(m metrics) (string, string, *float64, float64, bool) {
			p50, ok := m.get("BenchmarkCommitToAck", "p50_ms")
			l, _ := m.get("BenchmarkCommitToAck", "L_pg1_ms")
			r, _ := m.get("BenchmarkCommitToAck", "p50_ratio_to_bound")
			if !ok {
				return "", "", nil, 0, false
			}
			return fmt.Sprintf("%.1f ms", p50), fmt.Sprintf("L_pg1 %.2f ms", l), &r, p50, true
		}},
	maxFigure("Commit → ack p99 (one at a time)", "BenchmarkCommitToAck", "p99_ms", "≤ 50 ms", 50),
	maxFigure("Gửi → ack p50 (surge of 64)", "BenchmarkTelegramSurge", "p50_ms", "—", 1e18),
	maxFigure("Gửi → ack p99 (surge of 64)", "BenchmarkTelegramSurge", "p99_ms", "≤ 1000 ms", 1000),
	maxFigure("429s from the Bot API (surge of 64)", "BenchmarkTelegramSurge", "429s", "0", 0),
	maxFigure("Redis round trips per message (most)", "BenchmarkRoundTrips", "redis_round_trips/msg", "≤ 2", 2),
	maxFigure("Postgres statements, message that commits nothing", "BenchmarkRoundTrips", "pg_statements/msg", "0", 0),
	maxFigure("Redis bytes per live conversation", "BenchmarkConversationMemory", "B/live", "≤ 512", 512),
	maxFigure("Redis bytes left per finished conversation", "BenchmarkConversationMemory", "B/finished", "≤ 128", 128),
}

// find locates a benchmark reporting unit when a figure names none.
func (m metrics) find(unit string) string {
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if _, ok := m[name][unit]; ok {
			return name
		}
	}
	return ""
}

func rows(m metrics) []Row {
	var out []Row
	for _, f := range figures {
		bench := f.bench
		if bench == "" {
			bench = m.find(f.unit)
		}
		r := Row{Figure: f.name, Benchmark: strings.TrimPrefix(bench, "Benchmark"), Target: f.target,
			Met: "not measured", Value: "not measured"}
		if v, b, ratio, checked, ok := f.value(m); ok {
			r.Value, r.Bound, r.Ratio, r.Met = v, b, ratio, "yes"
			switch {
			case f.target == "—":
				r.Met = "—"
			case !f.met(checked):
				r.Met = "NO"
			}
		}
		out = append(out, r)
	}
	return out
}

func main() {
	jsonPath := flag.String("json", "", "also write the table as JSON to this file")
	commit := flag.String("commit", "", "the commit measured, recorded in the JSON")
	flag.Parse()
	m, err := parse(os.Stdin, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	table := rows(m)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "Figure\tValue\tBound\tRatio\tTarget\tMet?")
	for _, r := range table {
		ratio := ""
		if r.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *r.Ratio)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Figure, r.Value, r.Bound, ratio, r.Target, r.Met)
	}
	w.Flush()
	if *jsonPath == "" {
		return
	}
	out, _ := json.MarshalIndent(struct {
		Date    string `json:"date"`
		Commit  string `json:"commit,omitempty"`
		Figures []Row  `json:"figures"`
	}{time.Now().UTC().Format(time.RFC3339), *commit, table}, "", "  ")
	if err := os.WriteFile(*jsonPath, append(out, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}
