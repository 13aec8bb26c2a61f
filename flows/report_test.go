package flows

import "testing"

// TestMentionsTime: a way to reach someone that already says when spares
// the person the safe-time question; one that does not, or that only says
// "tôi" (I, which folds like "tối", evening), still gets it.
func TestMentionsTime(t *testing.T) {
	for text, want := range map[string]bool{
		"zalo cua toi, goi sau 9h toi":     true,
		"Gọi 0912 345 678 sau 20h30":       true,
		"nhắn tin ở đây, buổi tối":         true,
		"21:00 - 22:00":                    true,
		"9 gio sang":                       true,
		"luc nao cung duoc":                true,
		"Chiều chủ nhật":                   true,
		"gọi cho tôi":                      false,
		"goi cho toi":                      false,
		"zalo 0912345678":                  false,
		"nhan tin o day":                   false,
		"":                                 false,
		"số của tôi là 0987 654 321, Zalo": false,
		"nhan tin cho chi Sang":            false,
		"dem theo giay to":                 false,
		"gọi tối đa 2 lần":                 false,
		"gọi buổi sáng":                    true,
		"zalo, toi nay":                    true,
	} {
		if got := mentionsTime(text); got != want {
			t.Errorf("mentionsTime(%q) = %v, want %v", text, got, want)
		}
	}
}
