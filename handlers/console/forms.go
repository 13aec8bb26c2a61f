package console

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"tinbao/locales"
)

// formText reads an officer's free text (a note, a message to the
// reporter, a referral's note) as the reporters' text is read: line breaks
// as \n, cleaned (NFC, valid UTF-8, no NUL or other control characters,
// which Postgres refuses or which hide text), trimmed. ok says it holds at
// most max characters, and at least one unless optional.
func formText(v string, max int, optional bool) (string, bool) {
	v = strings.TrimSpace(locales.Clean(strings.ReplaceAll(v, "\r\n", "\n")))
	n := utf8.RuneCountInString(v)
	return v, n <= max && (optional || n > 0)
}

// usernamePattern is what officers.username allows.
var usernamePattern = regexp.MustCompile(`^[a-z0-9._-]{2,64}$`)

// loginName reads the sign-in form's username: trimmed, lower case. valid
// says it could be an account's name; one that cannot is never looked up
// (a failed sign-in all the same). name is safe to rate-limit and audit on:
// cleaned and at most 64 characters.
func loginName(v string) (name string, valid bool) {
	name, _ = formText(strings.ToLower(v), 64, true)
	if utf8.RuneCountInString(name) > 64 {
		name = string([]rune(name)[:64])
	}
	return name, usernamePattern.MatchString(name)
}
