package ldap

import (
	"crypto/rand"
	"fmt"
)

const (
	alphabet          = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	userPasswordLen   = 20  // ≈119 bits: strong, still typeable once
	bindPasswordLen   = 32  // ≈190 bits: machines type it
	maxUnbiasedByte   = 248 // 4*62: bytes at or above are rejected, so every letter is equally likely
	passwordMaxTrials = 100
)

// newPassword returns n characters from the 62-letter alphabet, drawn from
// crypto/rand without modulo bias, with at least one upper-case letter,
// one lower-case letter and one digit so common quality policies
// (ppolicy pwdCheckModule, AD-style complexity) accept it.
func newPassword(n int) (secret, error) {
	buf := make([]byte, n)
	for trial := 0; trial < passwordMaxTrials; trial++ {
		for i := 0; i < n; {
			var b [64]byte
			if _, err := rand.Read(b[:]); err != nil {
				return "", fmt.Errorf("ldap: random password: %w", err)
			}
			for _, x := range b {
				if x < maxUnbiasedByte && i < n {
					buf[i] = alphabet[int(x)%len(alphabet)]
					i++
				}
			}
		}
		if hasClasses(buf) {
			return secret(buf), nil
		}
	}
	return "", fmt.Errorf("ldap: random password: no mixed-class password in %d trials", passwordMaxTrials)
}

func hasClasses(b []byte) bool {
	var upper, lower, digit bool
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= '0' && c <= '9':
			digit = true
		}
	}
	return upper && lower && digit
}
