package flows

import (
	"strings"

	"tinbao/locales"
)

// keys are what a message is matched by: its folded key (locales.Fold) and
// its loose key (locales.Loose, Telex and VNI residue undone), each kept with
// a space either side so that a padded phrase (" bao tin ") is found as
// whole words with strings.Contains. Commands, danger phrases and openers
// all read the same keys, so a turn folds its text once (turn.keys).
type keys struct {
	text   string    // what was folded
	padded [2]string // " "+fold+" ", " "+loose+" "
}

func keysOf(text string) keys {
	f := locales.Fold(text)
	return keys{text: text, padded: [2]string{" " + f + " ", " " + locales.Loose(f) + " "}}
}

// fold is the folded key.
func (k keys) fold() string { return unpad(k.padded[0]) }

// both are the folded key, then the loose key: the order matchers try them.
func (k keys) both() [2]string { return [2]string{unpad(k.padded[0]), unpad(k.padded[1])} }

func unpad(s string) string { return s[1 : len(s)-1] }

// has reports whether either key holds one of the phrases as whole words.
func (k keys) has(ps phrases) bool {
	for _, key := range k.padded {
		for _, p := range ps {
			if strings.Contains(key, p) {
				return true
			}
		}
	}
	return false
}

// words counts the words of the folded key, which Fold separates with
// single spaces.
func (k keys) words() int {
	f := k.fold()
	if f == "" {
		return 0
	}
	return strings.Count(f, " ") + 1
}

// phrases are folded phrases padded with a space either side, made once
// from a word list rather than on every match.
type phrases []string

func padded(words []string) phrases {
	ps := make(phrases, len(words))
	for i, w := range words {
		ps[i] = " " + w + " "
	}
	return ps
}

// keys returns the keys of the turn's text. A turn may change its text (a
// number typed at the menu becomes a choice and no text), so the keys are
// folded again only when the text is not the one they were made from.
func (c *turn) keys() keys {
	if !c.folded || c.k.text != c.in.Text {
		c.k, c.folded = keysOf(c.in.Text), true
	}
	return c.k
}
