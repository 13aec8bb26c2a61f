package locales

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// flatten reads a message file into ID → text, the way go-i18n names nested
// keys ("menu.greeting").
func flatten(t *testing.T, name string) map[string]string {
	t.Helper()
	raw, err := files.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := toml.Unmarshal(raw, &tree); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case string:
			out[prefix] = v
		case map[string]any:
			for k, sub := range v {
				id := k
				if prefix != "" {
					id = prefix + "." + k
				}
				walk(id, sub)
			}
		}
	}
	walk("", tree)
	return out
}

var placeholder = regexp.MustCompile(`{{\s*\.(\w+)\s*}}`)

func placeholders(s string) string {
	var names []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func TestEveryLanguageHasEveryMessage(t *testing.T) {
	cat, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	vi := flatten(t, "active.vi.toml")
	for id, text := range vi {
		if strings.TrimSpace(text) == "" {
			t.Errorf("vi: %s is empty", id)
		}
	}
	for _, lang := range cat.Languages() {
		if lang == "vi" {
			continue
		}
		other := flatten(t, "active."+lang+".toml")
		for id, text := range vi {
			got, ok := other[id]
			switch {
			case !ok:
				t.Errorf("active.%s.toml lacks %q", lang, id)
			case placeholders(got) != placeholders(text):
				t.Errorf("%s %q: placeholders {%s}, vi has {%s}", lang, id, placeholders(got), placeholders(text))
			}
		}
		for id := range other {
			if _, ok := vi[id]; !ok {
				t.Errorf("active.%s.toml has %q, which vi does not", lang, id)
			}
		}
	}
}

func TestButtonLabelsOfTheContract(t *testing.T) {
	cat, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"button.skip": "Bỏ qua", "button.anonymous": "Ẩn danh", "button.send": "Gửi"} {
		if got := cat.T("vi", id, nil); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
}

func TestFallbacks(t *testing.T) {
	cat, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := cat.T("fr", "button.send", nil); got != "Gửi" {
		t.Errorf("unknown language: got %q, want the Vietnamese text", got)
	}
	if got := cat.T("vi", "no.such.message", nil); got != "no.such.message" {
		t.Errorf("missing message: got %q, want its ID", got)
	}
	got := cat.T("en", "ack.tip", map[string]any{"Reference": "TB-7K3M-Q9XJ"})
	if !strings.Contains(got, "TB-7K3M-Q9XJ") {
		t.Errorf("template data not filled: %q", got)
	}
	for hint, want := range map[string]string{"vi": "vi", "en-US": "en", "EN": "en", "fr": "", "": ""} {
		if got := cat.Match(hint); got != want {
			t.Errorf("Match(%q) = %q, want %q", hint, got, want)
		}
	}
}

func TestCountGroupsThousands(t *testing.T) {
	for _, c := range []struct {
		lang string
		n    int
		want string
	}{{"vi", 2000, "2.000"}, {"", 8000, "8.000"}, {"en", 2000, "2,000"}, {"vi", 999, "999"}, {"vi", 1234567, "1.234.567"}, {"en", -1000, "-1,000"}} {
		if got := Count(c.lang, c.n); got != c.want {
			t.Errorf("Count(%q, %d) = %q, want %q", c.lang, c.n, got, c.want)
		}
	}
}
