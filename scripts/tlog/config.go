package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/tessera"
)

const (
	// minCheckpointInterval mirrors Tessera's POSIX driver, which refuses
	// anything shorter (storage/posix: minCheckpointInterval = 100ms). We
	// refuse rather than clamp so a typo never silently changes behaviour.
	minCheckpointInterval = 100 * time.Millisecond
	// maxCheckpointInterval bounds how long POST /add may block waiting for
	// publication; beyond a minute callers would hit HTTP timeouts.
	maxCheckpointInterval     = 60 * time.Second
	defaultCheckpointInterval = time.Second
	minWriteTokenLen          = 32
	maxOriginLen              = 128
)

// config is everything the server reads from its environment.
type config struct {
	Dir                string
	Address            string
	Origin             string
	HSMModule          string
	HSMToken           string
	HSMPIN             string
	KeyLabel           string
	WriteToken         string
	Witnesses          *tessera.WitnessGroup // nil: no witnesses
	CheckpointInterval time.Duration
}

// loadConfig reads and validates the environment. It collects every problem
// instead of stopping at the first so an operator fixes them in one pass.
func loadConfig(getenv func(string) string) (config, error) {
	var c config
	var errs []error
	required := func(name string) string {
		v := getenv(name)
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
		return v
	}

	c.Dir = required("OTA_TLOG_DIR")
	c.Address = required("OTA_TLOG_ADDRESS")
	c.Origin = required("OTA_TLOG_ORIGIN")
	c.HSMModule = required("OTA_HSM_MODULE")
	c.HSMToken = required("OTA_HSM_TOKEN")
	c.HSMPIN = required("OTA_HSM_PIN")
	c.KeyLabel = required("OTA_TLOG_KEY_LABEL")
	c.WriteToken = required("OTA_TLOG_WRITE_TOKEN")
	if policy := strings.TrimSpace(getenv("OTA_TLOG_WITNESSES")); policy != "" {
		wg, err := tessera.NewWitnessGroupFromPolicy([]byte(policy))
		if err != nil {
			errs = append(errs, fmt.Errorf("OTA_TLOG_WITNESSES: %w", err))
		} else {
			c.Witnesses = &wg
		}
	}

	allowRemote, err := parseFlag(getenv("OTA_TLOG_ALLOW_REMOTE"))
	if err != nil {
		errs = append(errs, fmt.Errorf("OTA_TLOG_ALLOW_REMOTE: %w", err))
	}
	if c.Address != "" {
		if err := checkAddress(c.Address, allowRemote); err != nil {
			errs = append(errs, fmt.Errorf("OTA_TLOG_ADDRESS: %w", err))
		}
	}
	if c.Origin != "" {
		if err := checkOrigin(c.Origin); err != nil {
			errs = append(errs, fmt.Errorf("OTA_TLOG_ORIGIN: %w", err))
		}
	}
	if c.HSMModule != "" {
		if st, err := os.Stat(c.HSMModule); err != nil {
			errs = append(errs, fmt.Errorf("OTA_HSM_MODULE: %w", err))
		} else if !st.Mode().IsRegular() {
			errs = append(errs, fmt.Errorf("OTA_HSM_MODULE: %s is not a regular file", c.HSMModule))
		}
	}
	if c.WriteToken != "" {
		if err := checkWriteToken(c.WriteToken); err != nil {
			errs = append(errs, fmt.Errorf("OTA_TLOG_WRITE_TOKEN: %w", err))
		}
	}
	c.CheckpointInterval, err = parseCheckpointInterval(getenv("OTA_TLOG_CHECKPOINT_MS"))
	if err != nil {
		errs = append(errs, fmt.Errorf("OTA_TLOG_CHECKPOINT_MS: %w", err))
	}
	return c, errors.Join(errs...)
}

// parseFlag accepts only "", "0" and "1" so that values like "true" or
// "yes" are rejected instead of being silently read as "off".
func parseFlag(v string) (bool, error) {
	switch v {
	case "", "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, fmt.Errorf("must be 0 or 1, got %q", v)
}

// checkAddress refuses to expose the write endpoint beyond this host unless
// the operator opted in (the compose file does, inside its private network).
func checkAddress(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(p, 10) != port {
		return fmt.Errorf("invalid port %q", port)
	}
	if allowRemote || isLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("host %q is not loopback; set OTA_TLOG_ALLOW_REMOTE=1 to listen on it", host)
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkOrigin applies the note key-name rules (no spaces, no '+') and keeps
// to printable ASCII so the origin line is unambiguous for every verifier.
func checkOrigin(o string) error {
	if len(o) > maxOriginLen {
		return fmt.Errorf("longer than %d bytes", maxOriginLen)
	}
	for i := 0; i < len(o); i++ {
		b := o[i]
		if b <= ' ' || b > '~' {
			return fmt.Errorf("byte %d (0x%02x) is not printable non-space ASCII", i, b)
		}
		if b == '+' {
			return errors.New("must not contain '+'")
		}
	}
	return nil
}

// checkWriteToken demands enough length to resist guessing and only visible
// ASCII, because HTTP header values cannot carry anything else reliably.
func checkWriteToken(t string) error {
	if len(t) < minWriteTokenLen {
		return fmt.Errorf("must be at least %d characters", minWriteTokenLen)
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return errors.New("must be visible ASCII without spaces")
		}
	}
	return nil
}

func parseCheckpointInterval(v string) (time.Duration, error) {
	if v == "" {
		return defaultCheckpointInterval, nil
	}
	ms, err := parseDecimal(v, uint64(maxCheckpointInterval/time.Millisecond))
	if err != nil {
		return 0, err
	}
	d := time.Duration(ms) * time.Millisecond
	if d < minCheckpointInterval {
		return 0, fmt.Errorf("%v is below Tessera's minimum of %v", d, minCheckpointInterval)
	}
	return d, nil
}

// parseDecimal accepts only canonical base-10 digits (no sign, no leading
// zeros, no whitespace) up to max, so one number has exactly one spelling.
func parseDecimal(s string, max uint64) (uint64, error) {
	if s == "" || len(s) > 20 {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("invalid number %q", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("invalid number %q: leading zero", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > max {
		return 0, fmt.Errorf("number %q out of range (max %d)", s, max)
	}
	return n, nil
}
