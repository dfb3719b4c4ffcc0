package app

import (
	"strings"
	"testing"
)

func TestParsePasskeyName(t *testing.T) {
	for in, want := range map[string]string{"  Laptop ": "Laptop", "YubiKey 5 NFC": "YubiKey 5 NFC", "clé née": "clé née",
		strings.Repeat("é", PasskeyNameMax): strings.Repeat("é", PasskeyNameMax)} {
		if got, err := ParsePasskeyName(in); err != nil || got != want {
			t.Errorf("ParsePasskeyName(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", PasskeyNameMax+1), "a\nb", "a\x00b", "a\x7fb", "\xff"} {
		if _, err := ParsePasskeyName(bad); ErrCode(err) != EINVALID {
			t.Errorf("ParsePasskeyName(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestRelyingPartyRefusesIPs(t *testing.T) {
	for _, rp := range []RelyingParty{{ID: "127.0.0.1", Origin: "https://127.0.0.1:8443"}, {ID: "::1", Origin: "https://[::1]:8443"}, {}} {
		if _, err := relyingParty(rp); ErrCode(err) != EINVALID {
			t.Errorf("relyingParty(%+v) = %v, want invalid", rp, err)
		}
	}
	if _, err := relyingParty(RelyingParty{ID: "localhost", Origin: "https://localhost:8443"}); err != nil {
		t.Errorf("localhost: %v", err)
	}
}
