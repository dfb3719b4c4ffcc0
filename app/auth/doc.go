// Package auth hashes passwords and issues and verifies the API's JWTs.
//
// # Passwords
//
// Passwords are stored as bcrypt hashes (cost DefaultCost = 12). bcrypt reads
// at most 72 bytes of input and silently ignores the rest, which would make
// two long passwords that share their first 72 bytes interchangeable (a
// 128-character policy allows up to 512 bytes of UTF-8). So bcrypt never sees
// the password itself; it sees a fixed-length pre-hash:
//
//	bcrypt input = base64.StdEncoding( HMAC-SHA256(key = "nexplane-password-v1", msg = password) )
//
// That is 44 ASCII bytes: under the 72-byte limit, free of NUL bytes (which
// some bcrypt implementations treat as a terminator), and dependent on every
// byte of the password. The HMAC key is a fixed domain separator, not a
// secret (a pepper would make hashes unusable after losing it); changing it
// invalidates every stored hash, hence the version suffix.
//
// bcrypt is deliberately slow (about 230 ms of one core at cost 12), so a
// Hasher runs at most a fixed number of hashes at once; callers wait for a
// slot and give up when their context ends. A storm of logins then queues
// instead of taking every core from the rest of the server.
//
// # Tokens
//
// API tokens are RS256 JWTs with a one-hour lifetime; see Tokens.
package auth
