package console

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"tinbao/flows"
)

// FuzzForms feeds form bodies to what the console reads from them: the
// free text of a note, a message and a referral (clean, trimmed, within its
// length, read again unchanged: Postgres never gets a NUL or invalid
// UTF-8), the sign-in name (only a possible account's name is looked up,
// and what is audited is clean and short), the unit of a referral and the
// report a duplicate names (a code that re-formats to itself).
func FuzzForms(f *testing.F) {
	for _, s := range []string{"note=%C4%90%C3%A3+g%E1%BB%8Di+111&csrf=x", "body=B%E1%BA%A1n+c%C3%B3+an+to%C3%A0n+kh%C3%B4ng%3F",
		"note=a%00b%0D%0Ac", "note=%FF%FE", "note=+++", "username=Duty&password=x", "username=%00admin", "username=" + strings.Repeat("a", 80),
		"unit=3&share=where&share=needs&note=", "unit=-1", "unit=99999999999999999999", "status=duplicate&of=tb7k3mq9xj", "of=TB-7K3M-Q9XJ",
		"note=%E2%80%AEgnp.exe", "%zz=1&note", ";", "note=" + strings.Repeat("%C3%A1", 1001)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, _ := url.ParseQuery(body) // as net/http: keep what parsed
		for _, field := range []struct {
			key      string
			max      int
			optional bool
		}{{"note", maxNote, false}, {"body", maxReply, false}, {"note", maxReply, true}} {
			v, ok := formText(form.Get(field.key), field.max, field.optional)
			if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool {
				return r == 0 || r == '\r' || (unicode.IsControl(r) && r != '\n' && r != '\t') || (r >= '\u202A' && r <= '\u202E')
			}) || v != strings.TrimSpace(v) {
				t.Fatalf("%s = %q: unclean", field.key, v)
			}
			if n := utf8.RuneCountInString(v); ok != (n <= field.max && (field.optional || n > 0)) {
				t.Fatalf("%s = %q (%d characters): ok = %t", field.key, v, n, ok)
			}
			if again, ok2 := formText(v, field.max, field.optional); again != v || ok2 != ok {
				t.Fatalf("%s read again: %q → %q", field.key, v, again)
			}
		}
		name, valid := loginName(form.Get("username"))
		if !utf8.ValidString(name) || strings.ContainsRune(name, 0) || utf8.RuneCountInString(name) > 64 {
			t.Fatalf("username %q: unsafe to audit", name)
		}
		if valid && (!usernamePattern.MatchString(name) || name != strings.ToLower(name)) {
			t.Fatalf("username %q taken as an account's name", name)
		}
		if ref, err := flows.ParseReference(form.Get("of")); err == nil {
			if again, err := flows.ParseReference(string(ref)); err != nil || again != ref || len(ref) != 12 {
				t.Fatalf("of = %q → %q → %q %v", form.Get("of"), ref, again, err)
			}
		}
	})
}
