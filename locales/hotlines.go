package locales

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

//go:embed hotlines.toml
var hotlinesTOML []byte

// Hotlines are the numbers given to people outside Vietnam: data an
// administrator corrects (hotlines.toml, or the file HOTLINES_FILE names),
// never code.
type Hotlines struct {
	Lines     []Line             `toml:"lines"`
	Countries map[string]Country `toml:"countries"`
}

// Line is a number that answers from anywhere abroad.
type Line struct {
	NameVI   string `toml:"name_vi"`
	NameEN   string `toml:"name_en"`
	Number   string `toml:"number"`
	Checked  string `toml:"checked"`
	Verified bool   `toml:"verified"`
}

// Country is a country people are taken to, with its embassy's number when
// someone has confirmed one.
type Country struct {
	NameVI    string   `toml:"name_vi"`
	NameEN    string   `toml:"name_en"`
	Aliases   []string `toml:"aliases"`
	EmbassyVI string   `toml:"embassy_vi"`
	EmbassyEN string   `toml:"embassy_en"`
	Number    string   `toml:"number"`
	Checked   string   `toml:"checked"`
	Verified  bool     `toml:"verified"`
}

// ParseHotlines reads a hotlines file and checks it.
func ParseHotlines(data []byte) (*Hotlines, error) {
	var h Hotlines
	if _, err := toml.Decode(string(data), &h); err != nil {
		return nil, fmt.Errorf("hotlines: %w", err)
	}
	if len(h.Lines) == 0 {
		return nil, fmt.Errorf("hotlines: no [[lines]]: people abroad need at least one number")
	}
	for i, l := range h.Lines {
		if l.Number == "" || l.NameVI == "" {
			return nil, fmt.Errorf("hotlines: line %d needs name_vi and number", i+1)
		}
	}
	for code, c := range h.Countries {
		if c.NameVI == "" || len(c.Aliases) == 0 {
			return nil, fmt.Errorf("hotlines: country %q needs name_vi and aliases", code)
		}
		for j, a := range c.Aliases {
			c.Aliases[j] = Fold(a)
		}
	}
	return &h, nil
}

// DefaultHotlines is the embedded hotlines file.
func DefaultHotlines() *Hotlines {
	h, err := ParseHotlines(hotlinesTOML)
	if err != nil {
		panic(err) // the embedded file is checked by the tests
	}
	return h
}

// CountryIn finds a country named in text (folded, whole words), or "".
func (h *Hotlines) CountryIn(text string) string {
	if h == nil || text == "" {
		return ""
	}
	key := " " + Fold(text) + " "
	// The first code in order whose alias matches: the least of those
	// that match, found without sorting the codes on every message.
	found := ""
	for code, c := range h.Countries {
		if found != "" && code >= found {
			continue
		}
		for _, a := range c.Aliases {
			if hasWords(key, a) {
				found = code
				break
			}
		}
	}
	return found
}

// hasWords reports whether padded (a key with a space either side) holds
// phrase as whole words: strings.Contains(padded, " "+phrase+" ") without
// building the needle for every phrase.
func hasWords(padded, phrase string) bool {
	for i := 0; i < len(padded); {
		j := strings.Index(padded[i:], phrase)
		if j < 0 {
			return false
		}
		j += i
		if end := j + len(phrase); j > 0 && padded[j-1] == ' ' && end < len(padded) && padded[end] == ' ' {
			return true
		}
		i = j + 1
	}
	return false
}
