package main

// Embedded etcd on loopback.

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// freePort asks the kernel for a free TCP port on 127.0.0.1. There is a small
// window in which another process could take it; good enough for tests.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// etcdLogLevel is raised to fatal when shutdown starts: closing the embedded
// server logs "errors" about its own closed listeners.
var etcdLogLevel = zap.NewAtomicLevelAt(zapcore.ErrorLevel)

func etcdLogger(verbose bool) *zap.Logger {
	if verbose {
		etcdLogLevel.SetLevel(zapcore.InfoLevel)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(os.Stderr), etcdLogLevel)
	return zap.New(core).Named("etcd")
}

func loopbackURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
}

var errInterrupted = errors.New("interrupted")

// startEtcd starts a single-member etcd whose data lives in dataDir/etcd.
// An existing data dir is reused (the member's previous peer URL does not
// matter for a single member). It returns the client URL.
func startEtcd(dataDir string, clientPort int, verbose bool, stop <-chan struct{}) (*embed.Etcd, string, error) {
	var err error
	if clientPort == 0 {
		if clientPort, err = freePort(); err != nil {
			return nil, "", err
		}
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, "", err
	}

	cfg := embed.NewConfig()
	cfg.Name = "postmaster"
	cfg.Dir = filepath.Join(dataDir, "etcd")
	client, peer := loopbackURL(clientPort), loopbackURL(peerPort)
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(etcdLogger(verbose))
	// Keep memory small (the apiserver compacts etcd itself every 5 minutes).
	cfg.SnapshotCount = 5000

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("starting etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("etcd failed: %w", err)
	case <-stop:
		e.Close()
		return nil, "", errInterrupted
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, "", fmt.Errorf("etcd did not become ready within 60s")
	}
	return e, client.String(), nil
}
