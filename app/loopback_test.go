package app

import "testing"

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "localhost.": true,
		"127.0.0.1": true, "127.8.9.10": true, "::1": true, "::ffff:127.0.0.1": true,
		"": false, "example.org": false, "localhost.example.org": false, "evil-localhost": false,
		"10.0.0.1": false, "0.0.0.0": false, "::": false, "192.168.1.1": false, "2001:db8::1": false,
		"128.0.0.1": false, "::1%lo": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
