package flows_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"tinbao/bot/sms"
	"tinbao/flows"
	"tinbao/locales"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata/")

// Transcripts in testdata/*.txt are conversations a Vietnamese reviewer can
// read without reading Go. "> " lines are what the person sends:
//
//	> Có người bị lừa     text
//	> [Gửi]               presses the button labelled Gửi (SMS: types what is shown)
//	> [vị trí 10.36 106.35] shares a location    > [ảnh]  sends a photo
//	> (40 phút sau)       time passes
//	> (người phụ trách nhắn về TB-…) an officer wrote about that report
//
//	> (3 giây sau)        the next message follows the last within seconds (a burst)
//	> (cuộc trò chuyện mới) a new person starts from nothing
//	> (nhiều người đang tra cứu) from here on, lookups are over the limits
//	                      shared by everyone (that code's, the service's)
//
// "< " lines are tinbao's answers, buttons in brackets (on SMS, the text as
// the SMS carries it), and "= " lines what is handed on: a finished report
// with its acknowledgement, a lookup, a wipe. The first line may say
// "# kênh: sms" (or telegram, web; default telegram). The test replays the
// "> " lines and compares the whole conversation; `go test ./flows -update`
// rewrites the files.
func TestTranscripts(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := flows.New(cat, flows.Options{PanicWord: "thời tiết hôm nay", PrivacyURL: "https://tinbao.example/privacy"})
	paths, _ := filepath.Glob("testdata/*.txt")
	if len(paths) == 0 {
		t.Fatal("no transcripts in testdata/")
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := replay(t, e, string(raw))
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(raw) {
				t.Errorf("transcript differs; run `go test ./flows -update` and read the diff.\n--- got\n%s\n--- want\n%s", got, raw)
			}
		})
	}
}

func replay(t *testing.T, e *flows.Engine, script string) string {
	out, _ := replaySMS(t, e, script, false)
	return out
}

// replaySMS replays a transcript and also returns each SMS it sends (one per
// turn, as the SMS adapter composes it, and the acknowledgement), with or
// without Vietnamese marks.
func replaySMS(t *testing.T, e *flows.Engine, script string, keepMarks bool) (string, []string) {
	var sent []string
	var out strings.Builder
	var s flows.Session
	var last []flows.Choice
	channel := "telegram"
	committed := map[flows.Reference]*flows.Report{}
	var openThread flows.Reference
	busy := false
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for i, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			if ch, ok := strings.CutPrefix(line, "# kênh: "); ok {
				channel = strings.TrimSpace(ch)
			}
			out.WriteString(line + "\n")
			continue
		}
		if !strings.HasPrefix(line, "> ") {
			continue
		}
		out.WriteString(line + "\n")
		said := strings.TrimPrefix(line, "> ")
		if ref, ok := strings.CutPrefix(said, "(người phụ trách nhắn về "); ok {
			openThread = flows.Reference(strings.TrimSuffix(ref, ")"))
			continue
		}
		if strings.HasPrefix(said, "(") && strings.HasSuffix(said, " phút sau)") {
			n, _ := strconv.Atoi(strings.Fields(said[1:])[0])
			now = now.Add(time.Duration(n) * time.Minute)
			continue
		}
		if strings.HasPrefix(said, "(") && strings.HasSuffix(said, " giây sau)") {
			// The next message comes only seconds after the last one.
			n, _ := strconv.Atoi(strings.Fields(said[1:])[0])
			now = now.Add(-time.Minute + time.Duration(n)*time.Second)
			continue
		}
		if said == "(nhiều người đang tra cứu)" {
			busy = true
			continue
		}
		if said == "(cuộc trò chuyện mới)" {
			s, last = flows.Session{}, nil
			continue
		}
		// The n-th report of a transcript always gets the same code.
		in := flows.Input{Channel: channel, Now: now, OpenThread: openThread,
			Reference: flows.NewReference([]byte{7, 19, 3, 20, 23, 9, byte(len(committed) + 1)})}
		switch {
		case said == "[ảnh]":
			in.Media = []flows.Media{{Kind: "photo", FileID: "AgACAgUAAxkBAAI" + strconv.Itoa(i)}}
		case strings.HasPrefix(said, "[vị trí "):
			f := strings.Fields(strings.Trim(said, "[]"))
			lat, _ := strconv.ParseFloat(f[2], 64)
			lon, _ := strconv.ParseFloat(f[3], 64)
			in.Location = &flows.Location{Lat: lat, Lon: lon}
		case strings.HasPrefix(said, "[") && strings.HasSuffix(said, "]"):
			label := said[1 : len(said)-1]
			for _, c := range last {
				if c.Label == label {
					in.Choice = c.ID
				}
			}
			if in.Choice == "" {
				t.Errorf("line %d: no button %q on the last reply", i+1, label)
				out.WriteString("! no such button\n")
				continue
			}
		default:
			in.Text = said
		}
		r := e.Step(s, in)
		s = r.Session
		if len(r.Replies) > 0 { // no answer: the buttons on screen stay
			last = nil
		}
		if channel == "sms" && len(r.Replies) > 0 {
			text := sms.Compose(r.Replies, keepMarks)
			sent = append(sent, text)
			out.WriteString(prefixLines("< ", text))
		}
		for _, rep := range r.Replies {
			if channel == "sms" {
				last = rep.Choices
			} else {
				out.WriteString(prefixLines("< ", rep.Text))
				if len(rep.Choices) > 0 {
					var labels []string
					for _, c := range rep.Choices {
						labels = append(labels, "["+c.Label+"]")
					}
					out.WriteString("  " + strings.Join(labels, " ") + "\n")
				}
			}
			last = rep.Choices
		}
		if r.Report != nil {
			committed[r.Report.Reference] = r.Report
			out.WriteString(describe(r.Report))
			if channel == "sms" {
				sent = append(sent, sms.Compose([]flows.Reply{{Text: r.Report.Ack}}, keepMarks))
			}
		}
		if r.Lookup != "" {
			found := committed[r.Lookup] != nil
			answer := e.Status(s.Lang, r.Lookup, "new", found, false)
			if busy {
				// Refused before anything is read: the same answer for
				// every code.
				fmt.Fprintf(&out, "= tra cứu %s: quá giới hạn chung, không đọc gì\n", r.Lookup)
				answer = e.LookupsBusy(s.Lang)
			} else {
				fmt.Fprintf(&out, "= tra cứu %s (có: %t)\n", r.Lookup, found)
			}
			if channel == "sms" {
				text := sms.Compose([]flows.Reply{answer}, keepMarks)
				sent = append(sent, text)
				out.WriteString(prefixLines("< ", text))
			} else {
				out.WriteString(prefixLines("< ", answer.Text))
			}
		}
		if r.Reply != nil {
			fmt.Fprintf(&out, "= gửi người phụ trách %s: %s\n", r.Reply.Reference, r.Reply.Text)
			ack := e.ThreadAck(s.Lang, r.Reply.Reference, committed[r.Reply.Reference] != nil)
			out.WriteString(prefixLines("< ", ack.Text))
			last = ack.Choices
			for _, c := range ack.Choices {
				out.WriteString("  [" + c.Label + "]\n")
			}
		}
		if r.Data != nil {
			rep := committed[r.Data.Reference]
			fmt.Fprintf(&out, "= yêu cầu dữ liệu %s %s (có: %t)\n", r.Data.Kind, r.Data.Reference, rep != nil)
			var h *flows.Holding
			if rep != nil {
				h = &flows.Holding{Classes: flows.HoldingClasses(rep.Details, len(rep.Distress) > 0), Media: len(rep.Media),
					WriteBack: rep.FollowUp, Status: "new"}
			}
			answer := e.DataAnswer(s.Lang, channel, *r.Data, h, false)
			if channel == "sms" {
				text := sms.Compose([]flows.Reply{answer}, keepMarks)
				sent = append(sent, text)
				out.WriteString(prefixLines("< ", text))
			} else {
				out.WriteString(prefixLines("< ", answer.Text))
			}
			last = answer.Choices
		}
		if r.Wipe {
			out.WriteString("= xoá cuộc trò chuyện\n")
		}
		now = now.Add(time.Minute)
	}
	return out.String(), sent
}

func prefixLines(prefix, text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

func describe(r *flows.Report) string {
	var keys []string
	for k := range r.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "= báo cáo kind=%s reference=%s urgent=%t lang=%s category=%s follow_up=%t media=%d\n",
		r.Kind, r.Reference, r.Urgent, r.Lang, r.Category, r.FollowUp, len(r.Media))
	for _, k := range keys {
		b.WriteString(prefixLines("=   "+k+": ", r.Details[k]))
	}
	for _, d := range r.Distress {
		b.WriteString(prefixLines("=   lời báo động "+d.At.Format("15:04:05")+": ", d.Text))
	}
	b.WriteString(prefixLines("= xác nhận: ", r.Ack))
	return b.String()
}
