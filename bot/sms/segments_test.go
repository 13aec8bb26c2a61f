package sms

import (
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	for _, c := range []struct {
		text     string
		enc      Encoding
		segments int
	}{
		{"", GSM7, 1},
		{"Cam on ban", GSM7, 1},
		{strings.Repeat("a", 160), GSM7, 1},
		{strings.Repeat("a", 161), GSM7, 2},
		{strings.Repeat("a", 306), GSM7, 2},
		{strings.Repeat("a", 307), GSM7, 3},
		{strings.Repeat("{", 80), GSM7, 1}, // extension characters cost two septets
		{strings.Repeat("{", 81), GSM7, 2},
		{"è é à ù ì ò", GSM7, 1}, // the few accented letters GSM-7 has
		{"Cảm ơn bạn", UCS2, 1},
		{strings.Repeat("ạ", 70), UCS2, 1},
		{strings.Repeat("ạ", 71), UCS2, 2},
		{strings.Repeat("ạ", 134), UCS2, 2},
		{strings.Repeat("ạ", 135), UCS2, 3},
		{strings.Repeat("😀", 35), UCS2, 1}, // an emoji is two UTF-16 units
		{strings.Repeat("😀", 36), UCS2, 2},
		// The domain's example: 93 characters, 2 parts with marks, 1 without.
		{"Bạn có an toàn để nói chuyện không? Trả lời 1 = Có, 2 = Không. Gọi 111 hoặc 113 nếu khẩn cấp.", UCS2, 2},
		{"Ban co an toan de noi chuyen khong? Tra loi 1 = Co, 2 = Khong. Goi 111 hoac 113 neu khan cap.", GSM7, 1},
		{"“Việc nhẹ lương cao”", UCS2, 1},
	} {
		enc, n := Count(c.text)
		if enc != c.enc || n != c.segments {
			t.Errorf("Count(%.30q…) = %s, %d; want %s, %d", c.text, enc, n, c.enc, c.segments)
		}
	}
	// NFD input counts as the NFC a phone sends.
	if _, n := Count("Cam\u0309 o\u031bn ba\u0323n"); n != 1 {
		t.Errorf("NFD text counted as %d segments", n)
	}
}

func TestStrip(t *testing.T) {
	for in, want := range map[string]string{
		"Bạn có an toàn không?":          "Ban co an toan khong?",
		"Đồng Tháp, đường Ð":             "Dong Thap, duong D",
		"Rủ đi làm “việc nhẹ lương cao”": `Ru di lam "viec nhe luong cao"`,
		"• 113: Công an… – 24/7":         "- 113: Cong an... - 24/7",
		"TB-7K3M-Q9XJ":                   "TB-7K3M-Q9XJ",
		"Người nhà ở Việt Nam gọi 111.":  "Nguoi nha o Viet Nam goi 111.",
		"Thuỷ, thủy, hoà, hòa":           "Thuy, thuy, hoa, hoa",
	} {
		got := Strip(in)
		if got != want {
			t.Errorf("Strip(%q) = %q, want %q", in, got, want)
		}
		if enc, _ := Count(got); enc != GSM7 {
			t.Errorf("Strip(%q) = %q is still %s", in, got, enc)
		}
	}
}

// The opt-out words as phones send them: any case, a full stop after, and
// "dừng" composed (NFC) or decomposed (NFD, some keyboards). "đúng" with its
// marks means yes, and DUNG alone is the flows' to answer (it keeps a draft).
func TestKeyword(t *testing.T) {
	for text, want := range map[string]kw{
		"STOP": kwStop, "stop.": kwStop, " Dừng ": kwStop, "dừng.": kwStop, "Du\u0300ng": kwNone,
		"du\u0300\u0323ng": kwNone, "d\u01b0\u0300ng": kwStop, "DỪNG!": kwStop, "huy dang ky": kwStop,
		"START": kwStart, "bat dau": kwStart, "Bắt đầu": kwStart, "DUNG LAI": kwStop, "dừng lại": kwStop,
		"ngung nhan tin": kwStop, "Ngừng nhắn tin!": kwStop,
		"đúng": kwNone, "dung": kwNone, "dung roi": kwNone, "stop it": kwNone,
	} {
		if got := keyword(text); got != want {
			t.Errorf("keyword(%q) = %d, want %d", text, got, want)
		}
	}
}
