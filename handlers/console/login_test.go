package console

import "testing"

// After signing in an officer goes back only to a page of this site.
func TestLocalPath(t *testing.T) {
	for p, want := range map[string]string{
		"/tips/TB-7K3M-Q91B": "/tips/TB-7K3M-Q91B", "/queue?status=new": "/queue?status=new",
		"": "/queue", "//evil.example/x": "/queue", `/\evil.example`: "/queue", "https://evil.example": "/queue",
		"/login": "/queue", "/login/2fa": "/queue",
	} {
		if got := localPath(p, "/queue"); got != want {
			t.Errorf("localPath(%q) = %q, want %q", p, got, want)
		}
	}
}
