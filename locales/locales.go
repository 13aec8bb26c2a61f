// Package locales holds every text a person reads in tinbao, one message file
// per language (Vietnamese is the source of truth), and the Vietnamese text
// folding used to match what people type.
package locales

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed active.*.toml
var files embed.FS

// Default is the language of a new conversation when nothing says otherwise.
const Default = "vi"

// Catalog looks messages up by ID in one language, falling back to Vietnamese.
// It is safe for concurrent use and never panics on a missing message.
type Catalog struct {
	bundle     *i18n.Bundle
	langs      []string
	localizers map[string]*i18n.Localizer
	ids        []string // every message ID of the default language
	// plain holds every message of every language as T says it with no
	// data (by language, then ID): most texts (buttons, the menu) have
	// none, and go-i18n looks up and runs a template on every call.
	plain map[string]map[string]string
}

// Load parses the embedded message files. Adding a language is adding a file.
func Load() (*Catalog, error) {
	b := i18n.NewBundle(language.Vietnamese)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	names, err := files.ReadDir(".")
	if err != nil {
		return nil, fmt.Errorf("load locales: %w", err)
	}
	c := &Catalog{bundle: b, localizers: map[string]*i18n.Localizer{}}
	for _, f := range names {
		mf, err := b.LoadMessageFileFS(files, f.Name())
		if err != nil {
			return nil, fmt.Errorf("load locales: %w", err)
		}
		lang := strings.TrimSuffix(strings.TrimPrefix(path.Base(f.Name()), "active."), ".toml")
		if lang == Default {
			for _, m := range mf.Messages {
				c.ids = append(c.ids, m.ID)
			}
			sort.Strings(c.ids)
		}
		c.langs = append(c.langs, lang)
		c.localizers[lang] = i18n.NewLocalizer(b, lang, Default)
	}
	// Vietnamese first, then the others by code.
	sort.Slice(c.langs, func(i, j int) bool {
		if (c.langs[i] == Default) != (c.langs[j] == Default) {
			return c.langs[i] == Default
		}
		return c.langs[i] < c.langs[j]
	})
	plain := map[string]map[string]string{}
	for _, lang := range c.langs {
		plain[lang] = make(map[string]string, len(c.ids))
		for _, id := range c.ids {
			plain[lang][id] = c.T(lang, id, nil)
		}
	}
	c.plain = plain
	return c, nil
}

// Languages lists the language codes that have a message file.
func (c *Catalog) Languages() []string { return append([]string(nil), c.langs...) }

// IDs lists every message ID of the default language.
func (c *Catalog) IDs() []string {
	var ids []string
	return append(ids, c.ids...)
}

// Match returns the supported language for a hint such as Telegram's
// language_code ("vi", "en-US"), or "" when none fits.
func (c *Catalog) Match(hint string) string {
	hint = strings.ToLower(strings.TrimSpace(hint))
	if i := strings.IndexAny(hint, "-_"); i > 0 {
		hint = hint[:i]
	}
	if _, ok := c.localizers[hint]; ok {
		return hint
	}
	return ""
}

// Has reports whether message id exists (in Vietnamese, whatever lang: the
// other languages have every Vietnamese ID).
func (c *Catalog) Has(id string) bool {
	i := sort.SearchStrings(c.ids, id)
	return i < len(c.ids) && c.ids[i] == id
}

// T returns message id in lang, with data filled into its template. A message
// missing in lang falls back to Vietnamese; a message missing everywhere
// returns its ID, which the locales tests forbid.
func (c *Catalog) T(lang, id string, data map[string]any) string {
	if data == nil {
		if s, ok := c.plain[lang][id]; ok {
			return s
		}
	}
	l, ok := c.localizers[lang]
	if !ok {
		l = c.localizers[Default]
	}
	s, err := l.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if s == "" && err != nil {
		return id
	}
	return s
}

// Count writes n as a reader of lang writes a number: thousands grouped
// with "," in English (2,000), with "." in Vietnamese, the default (2.000).
func Count(lang string, n int) string {
	sep := "."
	if lang == "en" {
		sep = ","
	}
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + sep + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
