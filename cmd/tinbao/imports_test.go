package main

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// allowedDeps is DESIGN.md's picture of who may import whom, as the set of
// our packages each package may depend on, directly or not. The test fails
// when a new import breaks the picture, or when a package appears that the
// picture does not place.
var allowedDeps = map[string][]string{
	"tinbao/locales":         {},
	"tinbao/identity":        {},
	"tinbao/flows":           {"tinbao/locales"},
	"tinbao/storage":         {"tinbao/flows", "tinbao/locales", "tinbao/identity"}, // identity: to seal reports under their data keys
	"tinbao/bot":             {"tinbao/flows", "tinbao/locales", "tinbao/identity"},
	"tinbao/bot/telegram":    {"tinbao/bot", "tinbao/flows", "tinbao/locales", "tinbao/identity"},
	"tinbao/bot/web":         {"tinbao/bot", "tinbao/flows", "tinbao/locales", "tinbao/identity"},
	"tinbao/bot/sms":         {"tinbao/bot", "tinbao/flows", "tinbao/locales", "tinbao/identity"},
	"tinbao/bot/sms/twilio":  {"tinbao/bot/sms", "tinbao/bot", "tinbao/flows", "tinbao/locales", "tinbao/identity"},
	"tinbao/bot/sms/smsgate": {"tinbao/bot/sms", "tinbao/bot", "tinbao/flows", "tinbao/locales", "tinbao/identity"},
	"tinbao/delivery":        {"tinbao/storage", "tinbao/bot", "tinbao/flows", "tinbao/locales", "tinbao/identity"},
	// media cleans photos (flows: the size limit) and fetches files into storage.
	"tinbao/media": {"tinbao/storage", "tinbao/flows", "tinbao/locales", "tinbao/identity"},
	"tinbao/handlers": {"tinbao/bot", "tinbao/bot/telegram", "tinbao/bot/web", "tinbao/bot/sms", "tinbao/bot/sms/twilio",
		"tinbao/bot/sms/smsgate", "tinbao/flows",
		"tinbao/locales", "tinbao/identity", "tinbao/storage", "tinbao/media"},
	// Test fakes: imported by tests only, never by product code.
	"tinbao/handlers/console":                       {"tinbao/storage", "tinbao/flows", "tinbao/locales", "tinbao/identity", "tinbao/media"},
	"tinbao/bot/telegram/telegramtest":              {},
	"tinbao/media/mediatest":                        {},
	"tinbao/bot/sms/smstest":                        {},
	"tinbao/bot/sms/smstest/fakesms":                {"tinbao/bot/sms/smstest"}, // dev tool
	"tinbao/storage/storagetest":                    {"tinbao/storage", "tinbao/flows", "tinbao/locales", "tinbao/identity"},
	"tinbao/bot/telegram/telegramtest/faketelegram": {"tinbao/bot/telegram/telegramtest"}, // dev tool
	"tinbao/cmd/tinbao":                             nil,                                  // may import everything but test fakes
	"tinbao/scripts/benchtable":                     {},                                   // make bench's table: reads go test's output only
	"tinbao/bench/benchrun":                         {},                                   // how benchmarks run their bound and system
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Deps " "}}`, "tinbao/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, "|")
		allowed, placed := allowedDeps[pkg]
		if !placed {
			t.Errorf("package %s is not in the import picture: add it to allowedDeps (and DESIGN.md)", pkg)
			continue
		}
		var bad []string
		for _, d := range strings.Fields(deps) {
			if !strings.HasPrefix(d, "tinbao/") || d == pkg {
				continue
			}
			if strings.HasSuffix(d, "test") && !contains(allowed, d) {
				bad = append(bad, d+" (test fake)")
				continue
			}
			if allowed == nil || contains(allowed, d) {
				continue
			}
			bad = append(bad, d)
		}
		if len(bad) > 0 {
			sort.Strings(bad)
			t.Errorf("%s must not depend on %s", pkg, strings.Join(bad, ", "))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
