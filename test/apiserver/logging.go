package main

// Quiet logging: stdout carries only the READY line; stderr gets klog errors
// (entries starting with E or F) unless --verbose is given. A few errors that
// every start logs while kube-system does not exist yet are dropped, and once
// shutdown has begun only fatal entries pass: components stopping one after
// the other log errors about each other that mean nothing.

import (
	"bytes"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"go.uber.org/zap/zapcore"
)

var benignStartupErrors = [][]byte{
	[]byte(`namespaces \"kube-system\" not found`),
	[]byte(`Found stale data, removed previous endpoints on kubernetes service`),
}

// severityFilter passes klog text entries whose header starts with one of the
// allowed severity letters. The klog text logger writes one entry per Write.
type severityFilter struct {
	mu           sync.Mutex
	out          io.Writer
	shuttingDown atomic.Bool
}

func (f *severityFilter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	pass := p[0] == 'F' || (p[0] == 'E' && !f.shuttingDown.Load())
	if pass && p[0] == 'E' {
		for _, b := range benignStartupErrors {
			if bytes.Contains(p, b) {
				pass = false
				break
			}
		}
	}
	if pass {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, err := f.out.Write(p); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

var klogFilter = &severityFilter{out: os.Stderr}

func klogWriter(verbose bool) io.Writer {
	if verbose {
		return os.Stderr
	}
	return klogFilter
}

// quietForShutdown silences non-fatal errors from here on (not called with
// --verbose).
func quietForShutdown() {
	klogFilter.shuttingDown.Store(true)
	etcdLogLevel.SetLevel(zapcore.FatalLevel)
}
