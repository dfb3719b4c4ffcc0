package app

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidatePassword(t *testing.T) {
	const email = "alice@example.com"
	tests := []struct {
		name     string
		password string
		wantMsg  string // "" means valid
	}{
		{"ok ascii", "tangerine-kettle-orbit", ""},
		{"ok exactly 12", "vW3!kp9#Lm2q", ""},
		{"ok exactly 128", strings.Repeat("ab3$", 32), ""},
		{"ok spaces", "correct horse battery", ""},
		{"ok unicode counts code points", "日本語のパスワードです長い", ""}, // 13 runes, 39 bytes
		{"ok emoji", "🔐🔑🗝️🔒🔓🔏🛡️⚔️🏰🐉✨🌙", ""},
		{"ok contains email", "alice@example.com-plus-more", ""},
		{"empty", "", "at least 12 characters"},
		{"11 chars", "abcdefghijk", "at least 12 characters"},
		{"11 runes but 33 bytes", "日本語のパスワードです", "at least 12 characters"},
		{"129 chars", strings.Repeat("x", 129), "at most 128 characters"},
		{"129 runes", strings.Repeat("ü", 129), "at most 128 characters"},
		{"invalid utf8", "abcdefghijkl\xff", "valid UTF-8"},
		{"truncated rune", "abcdefghijkl\xe6\x97", "valid UTF-8"},
		{"equals email", email, "not be your email"},
		{"equals email other case", "Alice@Example.COM", "not be your email"},
		{"equals email padded", "  alice@example.com ", "not be your email"},
		{"breached", "password1234", "commonly breached"},
		{"breached upper case", "PASSWORD1234", "commonly breached"},
		{"breached mixed case", "QwertyUiop123", "commonly breached"},
		{"breached digits", "123456789012", "commonly breached"},
		{"breached iloveyou", "iloveyou1234", "commonly breached"},
		{"breached doubled", "passwordpassword", "commonly breached"},
		{"breached padded", " password1234 ", "commonly breached"},
		{"control character", "tangerine\x00kettle", "control characters"},
		{"tab", "tangerine\tkettle", "control characters"},
		{"escape", "tangerine\x1bkettle", "control characters"},
		{"DEL", "tangerine\x7fkettle", "control characters"},
		{"C1 control", "tangerine\u0085kettle", "control characters"},
		{"only spaces", strings.Repeat(" ", 12), "only spaces"},
		{"only unicode spaces", strings.Repeat("\u3000", 12), "only spaces"},
		{"one character repeated", "zzzzzzzzzzzz", "one character repeated"},
		{"one unicode character repeated", strings.Repeat("é", 14), "one character repeated"},
		{"keyboard row", "qwertyuiopas", "keyboard or alphabet run"},
		{"keyboard row upper case", "QWERTYUIOPAS", "keyboard or alphabet run"},
		{"keyboard row backwards", "lkjhgfdsapoiuytrewq", "keyboard or alphabet run"},
		{"alphabet", "bcdefghijklm", "keyboard or alphabet run"},
		{"alphabet wrapping", "uvwxyzabcdefg", "keyboard or alphabet run"},
		{"alphabet backwards", "zyxwvutsrqpon", "keyboard or alphabet run"},
		{"digits wrapping", "567890123456", "keyboard or alphabet run"},
		{"digits backwards", "876543210987", "keyboard or alphabet run"},
		{"ok run inside more", "abcdefghijkl-tangerine", ""},
		// NFC and NFD spell the same text: both count 12 characters.
		{"ok decomposed counts composed", "cafe\u0301-au-lait!", ""},
		{"decomposed too short", "cafe\u0301-au-lai", "at least 12 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.password, email)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("ValidatePassword = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidatePassword = nil, want %q", tt.wantMsg)
			}
			if ErrCode(err) != EINVALID {
				t.Errorf("code %q, want invalid", ErrCode(err))
			}
			msg := ErrMessage(err)
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q, want it to contain %q", msg, tt.wantMsg)
			}
			if p := strings.TrimSpace(tt.password); len(p) >= 3 && strings.Contains(strings.ToLower(err.Error()), strings.ToLower(p)) {
				t.Errorf("error %q repeats the password", err)
			}
		})
	}
}

func TestValidatePasswordEmptyEmail(t *testing.T) {
	if err := ValidatePassword("tangerine-kettle-orbit", ""); err != nil {
		t.Fatal(err)
	}
	if err := ValidatePassword("            ", ""); err != nil && strings.Contains(ErrMessage(err), "email") {
		t.Fatalf("blank email compared equal to a blank password: %v", err)
	}
}

// The shipped list must be usable: big enough, normalised, and only entries
// the length rule would not already refuse.
func TestBreachedPasswordList(t *testing.T) {
	set := breachedSet()
	if len(set) < 1000 {
		t.Fatalf("list has %d entries, want at least 1000", len(set))
	}
	lines := 0
	for line := range strings.Lines(breachedPasswords) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "#") {
			continue
		}
		lines++
		if line != strings.ToLower(line) || line != strings.TrimSpace(line) || line == "" {
			t.Errorf("entry %q is not a trimmed lower-case line", line)
		}
		if n := utf8.RuneCountInString(line); n < MinPasswordLen || n > MaxPasswordLen {
			t.Errorf("entry %q has %d characters; the length rule already decides it", line, n)
		}
	}
	if lines != len(set) {
		t.Errorf("%d lines but %d distinct entries: duplicates", lines, len(set))
	}
	for _, p := range []string{"password1234", "qwertyuiop123", "123456789012", "iloveyou1234", "passwordpassword"} {
		if !IsBreachedPassword(p) {
			t.Errorf("%q missing from the list", p)
		}
	}
}

func BenchmarkValidatePassword(b *testing.B) {
	for b.Loop() {
		_ = ValidatePassword("tangerine-kettle-orbit", "alice@example.com")
	}
}
