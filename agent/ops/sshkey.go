package ops

import (
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"unicode"
)

// Public key types host.ssh_key.add accepts. ssh-dss and RSA below 2048 bits
// are left out on purpose: both are broken or deprecated by OpenSSH.
const (
	KeyEd25519         = "ssh-ed25519"
	KeyECDSA256        = "ecdsa-sha2-nistp256"
	KeyECDSA384        = "ecdsa-sha2-nistp384"
	KeyECDSA521        = "ecdsa-sha2-nistp521"
	KeyRSA             = "ssh-rsa"
	KeySKEd25519       = "sk-ssh-ed25519@openssh.com"
	KeySKECDSA256      = "sk-ecdsa-sha2-nistp256@openssh.com"
	MinRSABits         = 2048
	maxRSABits         = 16384 // OpenSSH's own limit
	maxKeyLineBytes    = 16 << 10
	fingerprintPrefix  = "SHA256:"
	fingerprintB64Len  = 43 // raw base64 of 32 bytes
	errOptionsNotAllow = "authorized_keys options (such as command=\"...\" or restrict) are not allowed; give only \"type base64 [comment]\""
)

// AllowedKeyTypes lists the key types host.ssh_key.add accepts.
var AllowedKeyTypes = []string{KeyEd25519, KeyECDSA256, KeyECDSA384, KeyECDSA521, KeyRSA, KeySKEd25519, KeySKECDSA256}

// PublicKey is a parsed authorized_keys entry.
type PublicKey struct {
	Options     string // raw options prefix; always empty from ParsePublicKey
	Type        string
	Blob        []byte // the decoded key data, what the fingerprint covers
	Comment     string
	Fingerprint string // "SHA256:" + unpadded base64 of SHA-256(Blob), as ssh-keygen -l
	Bits        int    // modulus size for RSA, curve size for ECDSA, 256 for Ed25519
}

// Line renders the key as one authorized_keys line without options.
func (k PublicKey) Line() string {
	s := k.Type + " " + base64.StdEncoding.EncodeToString(k.Blob)
	if k.Comment != "" {
		s += " " + k.Comment
	}
	return s
}

// Fingerprint is the SHA-256 fingerprint ssh-keygen -l prints for blob.
func Fingerprint(blob []byte) string {
	sum := sha256.Sum256(blob)
	return fingerprintPrefix + base64.RawStdEncoding.EncodeToString(sum[:])
}

// ValidateFingerprint checks the "SHA256:<43 base64 characters>" form.
func ValidateFingerprint(fp string) error {
	rest, ok := strings.CutPrefix(fp, fingerprintPrefix)
	if !ok {
		return fmt.Errorf("%s must start with %q (ssh-keygen -l -E sha256)", quoteShort(fp), fingerprintPrefix)
	}
	b, err := base64.RawStdEncoding.Strict().DecodeString(rest)
	if err != nil || len(rest) != fingerprintB64Len || len(b) != sha256.Size {
		return fmt.Errorf("%s is not a SHA-256 fingerprint (%q + 43 base64 characters)", quoteShort(fp), fingerprintPrefix)
	}
	return nil
}

// ParsePublicKey parses the value of host.ssh_key.add: exactly one line
// "type base64 [comment]", no options, an allowed type whose data parses and
// names the same type, RSA of at least MinRSABits.
func ParsePublicKey(line string) (PublicKey, error) {
	if len(line) > maxKeyLineBytes {
		return PublicKey{}, fmt.Errorf("longer than %d bytes", maxKeyLineBytes)
	}
	for _, r := range line {
		if r != ' ' && r != '\t' && unicode.IsControl(r) || r == unicode.ReplacementChar {
			return PublicKey{}, errors.New("must be a single line of printable text")
		}
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return PublicKey{}, errors.New("is empty")
	}
	typ := fields[0]
	if !slices.Contains(AllowedKeyTypes, typ) {
		if looksLikeOptions(typ) {
			return PublicKey{}, errors.New(errOptionsNotAllow)
		}
		return PublicKey{}, fmt.Errorf("key type %s is not allowed (allowed: %s)", quoteShort(typ), strings.Join(AllowedKeyTypes, ", "))
	}
	if len(fields) < 2 {
		return PublicKey{}, errors.New("has no key data after the type")
	}
	k, err := parseKey(typ, fields[1])
	if err != nil {
		return PublicKey{}, err
	}
	if k.Type == KeyRSA && k.Bits < MinRSABits {
		return PublicKey{}, fmt.Errorf("RSA key of %d bits is too small (at least %d)", k.Bits, MinRSABits)
	}
	k.Comment = restAfterFields(strings.TrimSpace(line), 2)
	return k, nil
}

// ParseAuthorizedKeysLine parses any authorized_keys line, with or without
// options, for inventory and removal: it needs a fingerprint even for keys
// host.ssh_key.add would refuse (ssh-dss, short RSA). Blank and comment
// lines return ok=false with no error.
func ParseAuthorizedKeysLine(line string) (k PublicKey, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return PublicKey{}, false, nil
	}
	// OpenSSH tries the line as a key first and only then skips options.
	if f := strings.Fields(line); len(f) >= 2 {
		if k, err := parseKey(f[0], f[1]); err == nil {
			k.Comment = restAfterFields(line, 2)
			return k, true, nil
		}
	}
	opts, rest, err := splitOptions(line)
	if err != nil {
		return PublicKey{}, false, err
	}
	f := strings.Fields(rest)
	if len(f) < 2 {
		return PublicKey{}, false, errors.New("no key type and data")
	}
	k, err = parseKey(f[0], f[1])
	if err != nil {
		return PublicKey{}, false, err
	}
	k.Options = opts
	k.Comment = restAfterFields(rest, 2)
	return k, true, nil
}

// parseKey decodes the base64 data and checks its structure for typ.
func parseKey(typ, b64 string) (PublicKey, error) {
	blob, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return PublicKey{}, errors.New("key data is not valid base64")
	}
	bits, err := parseBlob(typ, blob)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{Type: typ, Blob: blob, Fingerprint: Fingerprint(blob), Bits: bits}, nil
}

// parseBlob walks the SSH wire encoding (RFC 4253 §6.6, RFC 5656 §3.1,
// PROTOCOL.u2f) and returns the key size in bits.
func parseBlob(typ string, blob []byte) (int, error) {
	r := wire(blob)
	inner, err := r.str()
	if err != nil {
		return 0, fmt.Errorf("key data: %w", err)
	}
	if string(inner) != typ {
		return 0, fmt.Errorf("key data is of type %s but the line says %s", quoteShort(string(inner)), quoteShort(typ))
	}
	var bits int
	switch typ {
	case KeyEd25519, KeySKEd25519:
		pk, err := r.str()
		if err != nil || len(pk) != 32 {
			return 0, errors.New("key data: Ed25519 public key must be 32 bytes")
		}
		bits = 256
	case KeyECDSA256, KeyECDSA384, KeyECDSA521, KeySKECDSA256:
		if bits, err = parseECDSA(typ, &r); err != nil {
			return 0, err
		}
	case KeyRSA:
		if bits, err = parseRSA(&r); err != nil {
			return 0, err
		}
	case "ssh-dss":
		for range 4 { // p, q, g, y: inventory only
			if _, err := r.str(); err != nil {
				return 0, fmt.Errorf("key data: %w", err)
			}
		}
		bits = 1024
	default:
		return 0, fmt.Errorf("unknown key type %s", quoteShort(typ))
	}
	if strings.HasPrefix(typ, "sk-") {
		if _, err := r.str(); err != nil { // application, e.g. "ssh:"
			return 0, fmt.Errorf("key data: security key application: %w", err)
		}
	}
	if len(r) != 0 {
		return 0, errors.New("key data has trailing bytes")
	}
	return bits, nil
}

func parseECDSA(typ string, r *wire) (int, error) {
	want := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(typ, "sk-"), "ecdsa-sha2-"), "@openssh.com")
	curve, err := r.str()
	if err != nil || string(curve) != want {
		return 0, fmt.Errorf("key data: curve must be %s", want)
	}
	q, err := r.str()
	if err != nil {
		return 0, fmt.Errorf("key data: %w", err)
	}
	var c ecdh.Curve
	var bits int
	switch want {
	case "nistp256":
		c, bits = ecdh.P256(), 256
	case "nistp384":
		c, bits = ecdh.P384(), 384
	default:
		c, bits = ecdh.P521(), 521
	}
	// NewPublicKey accepts only an uncompressed point that is on the curve.
	if _, err := c.NewPublicKey(q); err != nil {
		return 0, fmt.Errorf("key data: ECDSA point is not on %s", want)
	}
	return bits, nil
}

func parseRSA(r *wire) (int, error) {
	e, err := r.mpint()
	if err != nil {
		return 0, fmt.Errorf("key data: RSA exponent: %w", err)
	}
	n, err := r.mpint()
	if err != nil {
		return 0, fmt.Errorf("key data: RSA modulus: %w", err)
	}
	if e.Cmp(big.NewInt(3)) < 0 || e.Bit(0) == 0 {
		return 0, errors.New("key data: RSA exponent must be odd and at least 3")
	}
	bits := n.BitLen()
	if bits > maxRSABits {
		return 0, fmt.Errorf("RSA key of %d bits is larger than %d", bits, maxRSABits)
	}
	return bits, nil
}

// wire reads SSH "string" and "mpint" values.
type wire []byte

func (w *wire) str() ([]byte, error) {
	if len(*w) < 4 {
		return nil, errors.New("truncated")
	}
	n := binary.BigEndian.Uint32(*w)
	if uint64(n) > uint64(len(*w)-4) {
		return nil, errors.New("truncated")
	}
	v := (*w)[4 : 4+n]
	*w = (*w)[4+n:]
	return v, nil
}

func (w *wire) mpint() (*big.Int, error) {
	b, err := w.str()
	if err != nil {
		return nil, err
	}
	if len(b) > 0 && b[0]&0x80 != 0 {
		return nil, errors.New("negative")
	}
	return new(big.Int).SetBytes(b), nil
}

// looksLikeOptions tells an options prefix from an unknown key type so the
// error says what is wrong.
func looksLikeOptions(tok string) bool {
	if strings.ContainsAny(tok, "=\",") {
		return true
	}
	switch strings.ToLower(tok) {
	case "restrict", "cert-authority", "no-pty", "no-port-forwarding", "no-agent-forwarding",
		"no-x11-forwarding", "no-user-rc", "no-touch-required", "verify-required", "pty",
		"port-forwarding", "agent-forwarding", "x11-forwarding", "user-rc", "touch-required":
		return true
	}
	return false
}

// splitOptions cuts the options prefix off a line: everything up to the
// first blank outside double quotes (backslash escapes a quote inside).
func splitOptions(line string) (opts, rest string, err error) {
	inQuote := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && inQuote && i+1 < len(line):
			i++
		case c == '"':
			inQuote = !inQuote
		case (c == ' ' || c == '\t') && !inQuote:
			return line[:i], strings.TrimSpace(line[i:]), nil
		}
	}
	return "", "", errors.New("options without a key")
}

// restAfterFields returns s after its first n blank-separated fields,
// trimmed: the comment, spacing inside it preserved.
func restAfterFields(s string, n int) string {
	for range n {
		s = strings.TrimLeft(s, " \t")
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			return ""
		}
		s = s[i:]
	}
	return strings.TrimSpace(s)
}
