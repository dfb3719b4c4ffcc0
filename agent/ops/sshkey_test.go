package ops

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Vectors made with ssh-keygen -t … and printed by ssh-keygen -lf.
const (
	ed25519Line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBI6TY03JqOZX5+PP7CJGRUVpaLOm9+ko3VRMrJtnEmb test k_ed25519"
	ed25519FP   = "SHA256:0dIMgQvCQiLNGJoXkacpjbx+zzgKeABEH2gx6cRmAO4"
	ecdsa256    = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNpVGWgZqNM3tQ8kyBtcAvXI+9C7LljIZ/KZVCxrn/XminCMqoLK1a9VJilyL03zrY6ixDFyM6LmIflNxlx9EFE= test k_ecdsab256"
	ecdsa256FP  = "SHA256:/i0PVxfva+PHN9p6xttkqZ56l+2gauVLIYIGauXaoS4"
	rsa2048Line = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDaPk/nrvqQxWndXXG2NBJ/8DLlbZi3KF9qe7q5zaCH/L0MOh/QoPeG3T/iaVyT9ODAmGN0tfaFxJO0wOemai+n2oLGb3A31G10Mr0RAum4l1XQQj2EzF6UuIdrrzg5xrfItremvw1TBEkqjHIS2i2roTNMgylSUmrSxx/ABuZh07sBRuSFS3Tq0vs9WfshfJeDierCZcSuZUFaZ8O8+C+60Xx5fuSztdFNbiPh5pl9YcnhYFFSgibhzEDglinrzp7e0nS2pDSDo9T04cg86B/MYXaNZc8pM7TNW1PMsV2g7kJb77IaIRFqzDPaOxl7sqgSaLtgVI6KuKHqxo6/xj5/ test k_rsab2048"
	rsa2048FP   = "SHA256:dlX0J0cLFYIvj8LPJgye0u3ruE/N8Dm27DOeh0yoGzY"
	rsa1024Line = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDdQH2REuyZacN0IoK5/N2pPRCgk08vwKt94kR0VPkdojnYp5cUDuuyRdRCo6k00jkqBWfPrEmaLcuMm39pz2oe409ZRyzpgSG/LKxViUxy3eQVGthJWeQKUDUGXN2/OhAeyZwZjM3lJCuAUFJ0Z3G03a91OrACHtTHMFwiRG3Xrw== test k_rsab1024"
	rsa1024FP   = "SHA256:HhhRvKcEU+sOWcHIB5U6ek/cTvIFe7Ol7djG8HJkm/Y"
)

func sshString(b []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	return append(out, b...)
}

func blobLine(typ string, parts ...[]byte) string {
	var blob []byte
	for _, p := range parts {
		blob = append(blob, sshString(p)...)
	}
	return typ + " " + base64.StdEncoding.EncodeToString(blob)
}

func skEd25519Line() string {
	return blobLine(KeySKEd25519, []byte(KeySKEd25519), bytes.Repeat([]byte{7}, 32), []byte("ssh:")) + " yubikey"
}

func TestParsePublicKeyVectors(t *testing.T) {
	for _, tc := range []struct {
		line, fp, typ, comment string
		bits                   int
	}{
		{ed25519Line, ed25519FP, KeyEd25519, "test k_ed25519", 256},
		{ecdsa256, ecdsa256FP, KeyECDSA256, "test k_ecdsab256", 256},
		{rsa2048Line, rsa2048FP, KeyRSA, "test k_rsab2048", 2048},
		{"  " + ed25519Line + "  ", ed25519FP, KeyEd25519, "test k_ed25519", 256},
	} {
		k, err := ParsePublicKey(tc.line)
		if err != nil {
			t.Fatalf("%.30s: %v", tc.line, err)
		}
		if k.Fingerprint != tc.fp || k.Type != tc.typ || k.Comment != tc.comment || k.Bits != tc.bits {
			t.Errorf("got %s %s %q %d, want %s %s %q %d", k.Fingerprint, k.Type, k.Comment, k.Bits, tc.fp, tc.typ, tc.comment, tc.bits)
		}
		if k2, err := ParsePublicKey(k.Line()); err != nil || k2.Fingerprint != k.Fingerprint {
			t.Errorf("Line() does not round-trip: %v", err)
		}
	}
	k, err := ParsePublicKey(skEd25519Line())
	if err != nil || k.Type != KeySKEd25519 {
		t.Fatalf("sk-ed25519: %v", err)
	}
}

func TestParsePublicKeyRefuses(t *testing.T) {
	ed := strings.Fields(ed25519Line)
	for name, tc := range map[string]struct{ line, want string }{
		"empty":          {"", "empty"},
		"options":        {`command="/bin/sh" ` + ed25519Line, "options"},
		"restrict":       {"restrict " + ed25519Line, "options"},
		"unknown type":   {"ssh-foo " + ed[1], "not allowed"},
		"dss":            {"ssh-dss AAAA", "not allowed"},
		"no data":        {"ssh-ed25519", "no key data"},
		"bad base64":     {"ssh-ed25519 !!!!", "base64"},
		"type mismatch":  {"ecdsa-sha2-nistp256 " + ed[1], "line says"},
		"short rsa":      {rsa1024Line, "too small"},
		"two lines":      {ed25519Line + "\n" + ed25519Line, "single line"},
		"nul":            {ed25519Line + "\x00", "single line"},
		"trailing bytes": {blobLine(KeyEd25519, []byte(KeyEd25519), make([]byte, 32), []byte("x")), "trailing"},
		"short ed25519":  {blobLine(KeyEd25519, []byte(KeyEd25519), make([]byte, 31)), "32 bytes"},
		"off curve":      {blobLine(KeyECDSA256, []byte(KeyECDSA256), []byte("nistp256"), append([]byte{4}, make([]byte, 64)...)), "not on"},
		"wrong curve":    {blobLine(KeyECDSA256, []byte(KeyECDSA256), []byte("nistp384"), []byte{4}), "curve must be"},
		"huge":           {"ssh-ed25519 " + strings.Repeat("A", 20000), "longer"},
	} {
		_, err := ParsePublicKey(tc.line)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
		}
	}
}

func TestParseAuthorizedKeysLine(t *testing.T) {
	for _, tc := range []struct {
		line, fp, opts string
		ok             bool
	}{
		{"", "", "", false},
		{"# comment", "", "", false},
		{ed25519Line, ed25519FP, "", true},
		{`command="echo \"hi there\"",no-pty ` + ed25519Line, ed25519FP, `command="echo \"hi there\"",no-pty`, true},
		{"restrict " + rsa1024Line, rsa1024FP, "restrict", true},
	} {
		k, ok, err := ParseAuthorizedKeysLine(tc.line)
		if err != nil || ok != tc.ok || k.Fingerprint != tc.fp || k.Options != tc.opts {
			t.Errorf("%.40q: got %q %v %q %v", tc.line, k.Fingerprint, ok, k.Options, err)
		}
	}
	if _, _, err := ParseAuthorizedKeysLine("garbage line here"); err == nil {
		t.Error("garbage parsed")
	}
}

func TestValidateFingerprint(t *testing.T) {
	if err := ValidateFingerprint(ed25519FP); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "MD5:aa:bb", "SHA256:short", ed25519FP + "=", "SHA256:" + strings.Repeat("!", 43)} {
		if ValidateFingerprint(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestFingerprintMatchesSSHKeygen compares fresh keys with ssh-keygen -l.
func TestFingerprintMatchesSSHKeygen(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen not installed")
	}
	dir := t.TempDir()
	for i, args := range [][]string{{"-t", "ed25519"}, {"-t", "ecdsa", "-b", "384"}, {"-t", "ecdsa", "-b", "521"}, {"-t", "rsa", "-b", "3072"}} {
		f := filepath.Join(dir, "k"+string(rune('a'+i)))
		if out, err := exec.Command(keygen, append(args, "-q", "-N", "", "-C", "c", "-f", f)...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %v: %v %s", args, err, out)
		}
		out, err := exec.Command(keygen, "-l", "-E", "sha256", "-f", f+".pub").Output()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := os.ReadFile(f + ".pub")
		k, err := ParsePublicKey(strings.TrimSpace(string(pub)))
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if want := strings.Fields(string(out))[1]; k.Fingerprint != want {
			t.Errorf("%v: fingerprint %s, ssh-keygen says %s", args, k.Fingerprint, want)
		}
	}
}

func FuzzParsePublicKey(f *testing.F) {
	for _, s := range []string{ed25519Line, ecdsa256, rsa2048Line, skEd25519Line(), `command="x" ` + ed25519Line} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		k, err := ParsePublicKey(line)
		if err == nil && Fingerprint(k.Blob) != k.Fingerprint {
			t.Fatal("fingerprint mismatch")
		}
		_, _, _ = ParseAuthorizedKeysLine(line)
	})
}
