package flows

import (
	"os"
	"strings"
	"testing"
)

// Every danger phrase has its line in the golden transcript, so a phrase
// added to the list is read, in a conversation, by whoever reviews it.
func TestEveryDangerPhraseHasATranscript(t *testing.T) {
	raw, err := os.ReadFile("testdata/danger_phrases.txt")
	if err != nil {
		t.Fatal(err)
	}
	said := map[string]bool{}
	for _, l := range strings.Split(string(raw), "\n") {
		if p, ok := strings.CutPrefix(l, "> "); ok {
			said[p] = true
		}
	}
	for _, p := range dangerPhrases {
		if !said[p] {
			t.Errorf("danger phrase %q has no line in testdata/danger_phrases.txt", p)
		}
		if !inDanger(keysOf(p)) {
			t.Errorf("danger phrase %q does not match itself", p)
		}
	}
}

// Whole sentences people wrote in a trial raise the alarm through the
// phrases inside them.
func TestDangerInSentences(t *testing.T) {
	for _, s := range []string{"em bi ep ban dam o quan karaoke", "ho giu cmnd cua em", "chị ấy bị ép lấy chồng bên đó"} {
		if !inDanger(keysOf(s)) {
			t.Errorf("%q did not raise the alarm", s)
		}
	}
	for _, s := range []string{"nhà em hay tiếp khách", "em làm ở quán karaoke"} {
		if inDanger(keysOf(s)) {
			t.Errorf("%q raised the alarm", s)
		}
	}
}

// Words that only look alike once marks are gone do not raise the alarm:
// "bạn tôi" (my friend) is not "bán tôi".
func TestFriendIsNotSold(t *testing.T) {
	for _, s := range []string{"bạn tôi đi làm ở xa", "bạn em rủ đi chơi", "bạn cho tôi hỏi", "tôi muốn báo tin"} {
		if inDanger(keysOf(s)) {
			t.Errorf("%q raised the alarm", s)
		}
	}
}

// A first message in English is answered in English; Vietnamese typed
// without marks, whose words fold into English-looking ones ("the nao",
// "sang My", "don"), is not taken for English.
func TestLooksEnglish(t *testing.T) {
	for text, want := range map[string]bool{
		"Hello, my sister is held in a casino in Myanmar, they took her passport. Please help": true,
		"where is my daughter, she went to work in China":                                      true,
		"took her passport":               true,
		"I don't know where my sister is": true,
		"My daughter went to Cambodia for a job and now they want money": true,
		"the nao roi, con toi sang My lam viec ma khong lien lac duoc":   false,
		"co nguoi den don em o ben xe, ho noi la di lam o nha hang":      false,
		"toi bi giu o campuchia, ho lay ho chieu":                        false,
		"help": false,
	} {
		if got := looksEnglish(keysOf(text)); got != want {
			t.Errorf("looksEnglish(%q) = %t, want %t", text, got, want)
		}
	}
}
