package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"tend/forward"
)

// setFluentBuffer parses TEND_FLUENT_BUFFER, a size of memory.
func setFluentBuffer(dst *int64, v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	if n < MinFluentBuffer {
		// The setting was a count of records until it became a size: say
		// so, rather than run with a buffer of a few KiB.
		return fmt.Errorf("less than %s (the setting is a size of memory, not a number of records)", FormatSize(MinFluentBuffer))
	}
	if n > MaxFluentBuffer {
		return fmt.Errorf("more than the limit of %s", FormatSize(MaxFluentBuffer))
	}
	*dst = n
	return nil
}

// setFluentSpool parses TEND_FLUENT_SPOOL: an absolute path, or off.
func setFluentSpool(dst *string, v string) error {
	if strings.TrimSpace(v) == "off" {
		*dst = ""
		return nil
	}
	return setPath(dst, v)
}

// checkFluent completes and checks the Fluentd settings once every
// variable is read: the spool's default directory, the spool directory
// itself, and the TLS files, which are read here so that a bad one stops
// the start (and `tend check`) with the variable's name.
func (b *builder) checkFluent() {
	c := &b.cfg.Fluent
	if c.Addr == "" {
		return
	}
	if !b.given["FLUENT_SPOOL"] && b.cfg.Log.Dir != "" {
		c.Spool = filepath.Join(b.cfg.Log.Dir, "fluent-spool")
	}
	if c.Spool != "" && b.given["FLUENT_SPOOL"] && !b.failed(Prefix+"FLUENT_SPOOL") {
		if err := checkLogDir(c.Spool); err != nil {
			b.fail(Prefix+"FLUENT_SPOOL", c.Spool, err.Error(), "a directory tend can write, or one it can create, or off")
		}
	}
	files := []struct {
		name, path string
	}{{"FLUENT_TLS_CA", c.TLSCA}, {"FLUENT_TLS_CERT", c.TLSCert}, {"FLUENT_TLS_KEY", c.TLSKey}}
	if !c.TLS {
		for _, f := range files {
			if f.path != "" {
				b.fail(Prefix+f.name, f.path, "set, but "+Prefix+"FLUENT_TLS is not true: nothing would use it", "unset, or "+Prefix+"FLUENT_TLS=true")
			}
		}
		return
	}
	const pemForm = "an absolute path of a PEM file tend can read"
	bad := false
	for _, f := range files {
		if f.path == "" || b.failed(Prefix+f.name) {
			continue
		}
		fh, err := openRegular(f.path)
		if err != nil {
			b.fail(Prefix+f.name, f.path, err.Error(), pemForm)
			bad = true
			continue
		}
		fh.Close()
	}
	if bad {
		return
	}
	if c.TLSCA != "" {
		if _, err := forward.TLSConfig(c.TLSCA, "", "", ""); err != nil {
			b.fail(Prefix+"FLUENT_TLS_CA", c.TLSCA, unprefixed(err), "a PEM file of one or more certificates")
		}
	}
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		b.fail(Prefix+"FLUENT_TLS_KEY", "", "missing: "+Prefix+"FLUENT_TLS_CERT is set", "the private key of "+Prefix+"FLUENT_TLS_CERT, a PEM file")
	case c.TLSCert == "" && c.TLSKey != "":
		b.fail(Prefix+"FLUENT_TLS_CERT", "", "missing: "+Prefix+"FLUENT_TLS_KEY is set", "a PEM certificate whose key is "+Prefix+"FLUENT_TLS_KEY")
	case c.TLSCert != "":
		if _, err := forward.TLSConfig("", c.TLSCert, c.TLSKey, ""); err != nil {
			b.fail(Prefix+"FLUENT_TLS_CERT", c.TLSCert, unprefixed(err)+" (with "+Prefix+"FLUENT_TLS_KEY="+c.TLSKey+")",
				"a PEM certificate and, in FLUENT_TLS_KEY, its private key")
		}
	}
}

// unprefixed is err's text without the "forward: " of the package that
// made it: the variable's name says where the problem is.
func unprefixed(err error) string {
	return strings.TrimPrefix(err.Error(), "forward: ")
}
