package storage

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"tinbao/flows"
)

// fillEvery sets every field of v (a struct) to a value that is not zero,
// found by reflection, so a field added to flows.Session later is covered.
func fillEvery(t *testing.T, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x" + v.Type().Field(i).Name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int64:
			f.SetInt(int64(1000 + i))
		case reflect.Map:
			f.Set(reflect.ValueOf(map[string]string{"what": "câu chuyện", "where": "Lào Cai"}))
		case reflect.Slice:
			switch f.Type().Elem() {
			case reflect.TypeFor[flows.Media]():
				f.Set(reflect.ValueOf([]flows.Media{{Kind: "photo", FileID: "f1", Mime: "image/jpeg", Size: 5}}))
			case reflect.TypeFor[flows.Distress]():
				at := time.UnixMilli(1796191140525).UTC()
				f.Set(reflect.ValueOf([]flows.Distress{{At: at, Text: "câu chuyện"}, {At: at.Add(time.Second), Text: "cứu tôi với"}}))
			default:
				t.Fatalf("field %s: no test value for %s", v.Type().Field(i).Name, f.Type())
			}
		default:
			t.Fatalf("field %s: no test value for %s", v.Type().Field(i).Name, f.Type())
		}
	}
}

// Every field of flows.Session comes back from its stored form: a field
// added to the session but not to sessionFields fails here.
func TestSessionCodecCoversEveryField(t *testing.T) {
	var sess flows.Session
	fillEvery(t, reflect.ValueOf(&sess).Elem())
	raw, err := encodeSession(sess)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSession(raw)
	if err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if !reflect.DeepEqual(got, sess) {
		t.Errorf("round trip lost something\nstored %s\n got %+v\nwant %+v", raw, got, sess)
	}
	// The zero session is stored as an empty array, and read back zero.
	raw, _ = encodeSession(flows.Session{})
	if string(raw) != "[]" {
		t.Errorf("zero session stored as %s, want []", raw)
	}
	if got, err := decodeSession(raw); err != nil || !reflect.DeepEqual(got, flows.Session{}) {
		t.Errorf("zero session read back as %+v, %v", got, err)
	}
}

// A story that raised the alarm is stored once, and the alarm keeps the
// words as they were even when the answer is changed afterwards.
func TestSessionCodecStoresAnAlarmingStoryOnce(t *testing.T) {
	story := "Có người rủ em tôi sang Campuchia làm việc nhẹ lương cao, họ giữ hộ chiếu"
	at := time.Date(2026, 12, 2, 5, 53, 27, 839020845, time.UTC)
	sess := flows.Session{Flow: "report", Step: "what", Lang: "vi", Answers: map[string]string{"what": story},
		Urgent: true, Touched: at.Unix(), More: true, JoinStep: "what", JoinAt: at.UnixMilli(), Abroad: "kh",
		Distress: []flows.Distress{{At: at, Text: story}}, Draft: "0NvGybsKv-6Yk51C"}
	raw, err := encodeSession(sess)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), story); n != 1 {
		t.Errorf("the story is stored %d times, want once: %s", n, raw)
	}
	plain, _ := json.Marshal(sess)
	t.Logf("stored %d bytes, %d as a JSON object: %s", len(raw), len(plain), raw)
	if len(raw) >= len(plain)-len(story) {
		t.Errorf("compact form %d bytes, not much below the object's %d", len(raw), len(plain))
	}
	got, err := decodeSession(raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := at.Truncate(time.Millisecond); !got.Distress[0].At.Equal(want) || got.Distress[0].Text != story {
		t.Errorf("alarm read back as %+v", got.Distress[0])
	}
	// The person rewrites the story: the alarm keeps the first words.
	got.Answers["what"] = "họ đã thả em tôi"
	raw, _ = encodeSession(got)
	again, _ := decodeSession(raw)
	if again.Distress[0].Text != story || again.Answers["what"] != "họ đã thả em tôi" {
		t.Errorf("after an edit: alarm %q, answer %q", again.Distress[0].Text, again.Answers["what"])
	}
}

// Sessions written as a JSON object before the compact form are still read.
func TestSessionCodecReadsTheOlderObject(t *testing.T) {
	old := []byte(`{"f":"report","s":"what","l":"vi","a":{"what":"họ giữ hộ chiếu"},"u":true,"d":[{"at":"2026-12-02T05:53:27.839020845Z","text":"họ giữ hộ chiếu"}],"dr":"9bfa0ed0a922f8efe17bd707"}`)
	got, err := decodeSession(old)
	if err != nil {
		t.Fatal(err)
	}
	if got.Flow != "report" || got.Answers["what"] != "họ giữ hộ chiếu" || len(got.Distress) != 1 ||
		got.Distress[0].At.Nanosecond() != 839020845 || got.Draft != "9bfa0ed0a922f8efe17bd707" {
		t.Errorf("older session read as %+v", got)
	}
	if _, err := decodeSession([]byte(`[1,`)); err == nil {
		t.Error("a broken record was read without error")
	}
	if !bytes.HasPrefix(mustEncode(t, got), []byte("[")) {
		t.Error("re-saved older session is not in the compact form")
	}
}

func mustEncode(t *testing.T, s flows.Session) []byte {
	t.Helper()
	raw, err := encodeSession(s)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// What outlives a report (language, last message, country) parks a record;
// anything of a conversation under way does not.
func TestParkedOnlyWhatOutlivesAReport(t *testing.T) {
	if !parked(flows.Session{Lang: "vi", Touched: 1796000000, Abroad: "kh"}) || !parked(flows.Session{}) {
		t.Errorf("an ended conversation is not parked")
	}
	for _, s := range []flows.Session{{Flow: "report"}, {Opener: "em bi lua"}, {Paused: true},
		{Distress: []flows.Distress{{Text: "cuu"}}}, {Answers: map[string]string{"what": "x"}}} {
		if parked(s) {
			t.Errorf("%+v is parked, but holds a conversation under way", s)
		}
	}
}
