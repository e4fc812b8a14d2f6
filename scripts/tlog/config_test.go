package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func validEnv(t *testing.T) map[string]string {
	exe, err := os.Executable() // any regular file stands in for the module
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"OTA_TLOG_DIR":         t.TempDir(),
		"OTA_TLOG_ADDRESS":     "127.0.0.1:19700",
		"OTA_TLOG_ORIGIN":      "enigm-ota.local/log",
		"OTA_HSM_MODULE":       exe,
		"OTA_HSM_TOKEN":        "tok",
		"OTA_HSM_PIN":          "1234",
		"OTA_TLOG_KEY_LABEL":   "tlog",
		"OTA_TLOG_WRITE_TOKEN": strings.Repeat("x", 32),
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	env := validEnv(t)
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.CheckpointInterval != time.Second || c.Witnesses != nil {
		t.Fatalf("got interval %v witnesses %v", c.CheckpointInterval, c.Witnesses)
	}
}

func TestLoadConfig(t *testing.T) {
	policy := "witness w1 " + cosignatureVKey(t, "w1.example") + " https://w1.example/\nquorum w1\n"
	for _, tc := range []struct {
		name    string
		set     map[string]string
		wantErr string
		check   func(*testing.T, config)
	}{
		{name: "missing dir", set: map[string]string{"OTA_TLOG_DIR": ""}, wantErr: "OTA_TLOG_DIR is required"},
		{name: "missing pin", set: map[string]string{"OTA_HSM_PIN": ""}, wantErr: "OTA_HSM_PIN is required"},
		{name: "remote refused", set: map[string]string{"OTA_TLOG_ADDRESS": "0.0.0.0:19700"}, wantErr: "not loopback"},
		{name: "all interfaces refused", set: map[string]string{"OTA_TLOG_ADDRESS": ":19700"}, wantErr: "not loopback"},
		{name: "remote allowed", set: map[string]string{"OTA_TLOG_ADDRESS": "0.0.0.0:19700", "OTA_TLOG_ALLOW_REMOTE": "1"}},
		{name: "localhost", set: map[string]string{"OTA_TLOG_ADDRESS": "localhost:19700"}},
		{name: "ipv6 loopback", set: map[string]string{"OTA_TLOG_ADDRESS": "[::1]:19700"}},
		{name: "bad allow flag", set: map[string]string{"OTA_TLOG_ALLOW_REMOTE": "true"}, wantErr: "must be 0 or 1"},
		{name: "bad port", set: map[string]string{"OTA_TLOG_ADDRESS": "127.0.0.1:http"}, wantErr: "invalid port"},
		{name: "origin space", set: map[string]string{"OTA_TLOG_ORIGIN": "a b"}, wantErr: "OTA_TLOG_ORIGIN"},
		{name: "origin plus", set: map[string]string{"OTA_TLOG_ORIGIN": "a+b"}, wantErr: "'+'"},
		{name: "origin long", set: map[string]string{"OTA_TLOG_ORIGIN": strings.Repeat("a", 129)}, wantErr: "longer than 128"},
		{name: "origin non-ascii", set: map[string]string{"OTA_TLOG_ORIGIN": "é"}, wantErr: "printable"},
		{name: "module missing", set: map[string]string{"OTA_HSM_MODULE": "/nonexistent/lib.so"}, wantErr: "OTA_HSM_MODULE"},
		{name: "short token", set: map[string]string{"OTA_TLOG_WRITE_TOKEN": strings.Repeat("x", 31)}, wantErr: "at least 32"},
		{name: "token space", set: map[string]string{"OTA_TLOG_WRITE_TOKEN": strings.Repeat("x", 32) + " y"}, wantErr: "visible ASCII"},
		{name: "interval below tessera minimum", set: map[string]string{"OTA_TLOG_CHECKPOINT_MS": "99"}, wantErr: "minimum"},
		{name: "interval not decimal", set: map[string]string{"OTA_TLOG_CHECKPOINT_MS": "1e3"}, wantErr: "invalid number"},
		{name: "interval too long", set: map[string]string{"OTA_TLOG_CHECKPOINT_MS": "60001"}, wantErr: "out of range"},
		{name: "interval 200ms", set: map[string]string{"OTA_TLOG_CHECKPOINT_MS": "200"}, check: func(t *testing.T, c config) {
			if c.CheckpointInterval != 200*time.Millisecond {
				t.Errorf("interval %v", c.CheckpointInterval)
			}
		}},
		{name: "witness policy without quorum", set: map[string]string{"OTA_TLOG_WITNESSES": "log foo\n"}, wantErr: "quorum"},
		{name: "witness policy", set: map[string]string{"OTA_TLOG_WITNESSES": policy}, check: func(t *testing.T, c config) {
			if c.Witnesses == nil || c.Witnesses.N != 1 {
				t.Errorf("witnesses %+v", c.Witnesses)
			}
		}},
		{name: "witness policy none", set: map[string]string{"OTA_TLOG_WITNESSES": "quorum none\n"}, check: func(t *testing.T, c config) {
			if c.Witnesses == nil || c.Witnesses.N != 0 {
				t.Errorf("witnesses %+v", c.Witnesses)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := validEnv(t)
			for k, v := range tc.set {
				env[k] = v
			}
			c, err := loadConfig(func(k string) string { return env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestParseDecimal(t *testing.T) {
	for _, s := range []string{"", "-1", "+1", "01", " 1", "1 ", "0x10", "9007199254740992", "99999999999999999999999"} {
		if _, err := parseDecimal(s, maxJSONSafe); err == nil {
			t.Errorf("parseDecimal(%q) accepted", s)
		}
	}
	for s, want := range map[string]uint64{"0": 0, "7": 7, "9007199254740991": 1<<53 - 1} {
		if got, err := parseDecimal(s, maxJSONSafe); err != nil || got != want {
			t.Errorf("parseDecimal(%q) = %d, %v", s, got, err)
		}
	}
}

// cosignatureVKey makes a C2SP tlog-cosignature verifier key (type 0x04),
// the only kind Tessera accepts for witnesses.
func cosignatureVKey(t *testing.T, name string) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	typed := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append([]byte(name+"\n"), typed...))
	return fmt.Sprintf("%s+%x+%s", name, h[:4], base64.StdEncoding.EncodeToString(typed))
}
