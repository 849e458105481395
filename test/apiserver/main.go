// Command postmaster-apiserver runs a real kube-apiserver, an embedded etcd
// and a minimal kube-controller-manager in one process on 127.0.0.1, for
// integration tests and demos.
//
// Contract: once the server is ready it prints exactly one line to stdout,
//
//	READY kubeconfig=<abs path> server=https://127.0.0.1:<port>
//
// and nothing else ever goes to stdout. SIGTERM/SIGINT shut everything down
// and the process exits 0. Startup errors go to stderr with a non-zero exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"
)

const (
	readyTimeout    = 3 * time.Minute
	shutdownTimeout = 15 * time.Second
)

type options struct {
	dataDir  string
	port     int
	etcdPort int
	noKCM    bool
	verbose  bool
}

func main() {
	var o options
	fs := flag.NewFlagSet("postmaster-apiserver", flag.ContinueOnError)
	fs.StringVar(&o.dataDir, "data-dir", "", "directory for etcd data, certificates, keys and the kubeconfig (required; reused across restarts)")
	fs.IntVar(&o.port, "port", 0, "secure port on 127.0.0.1 (0 = pick a free port)")
	fs.IntVar(&o.etcdPort, "etcd-port", 0, "client port of the embedded etcd on 127.0.0.1 (0 = pick a free port)")
	fs.BoolVar(&o.noKCM, "no-controller-manager", false, "do not run the in-process kube-controller-manager")
	fs.BoolVar(&o.verbose, "verbose", false, "log everything (info and warnings too) to stderr")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "postmaster-apiserver: unexpected arguments: %v\n", fs.Args())
		os.Exit(2)
	}
	if o.dataDir == "" {
		fmt.Fprintln(os.Stderr, "postmaster-apiserver: --data-dir is required")
		os.Exit(2)
	}
	os.Exit(run(o))
}

var verbose bool

func debugf(format string, args ...any) {
	if verbose {
		fmt.Fprintf(os.Stderr, "postmaster-apiserver: "+format+"\n", args...)
	}
}

// lockDataDir makes sure only one process uses dataDir (etcd would otherwise
// wait forever for its database lock).
func lockDataDir(dataDir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dataDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another postmaster-apiserver: %v", dataDir, err)
	}
	return func() { f.Close() }, nil
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "postmaster-apiserver: "+format+"\n", args...)
	klog.Flush()
	return 1
}

func run(o options) int {
	verbose = o.verbose
	// Logging is configured once, for every component in this process.
	logCfg := logsapi.NewLoggingConfiguration()
	if err := logsapi.ValidateAndApplyWithOptions(logCfg, &logsapi.LoggingOptions{
		ErrorStream: klogWriter(o.verbose),
		InfoStream:  io.Discard,
	}, utilfeature.DefaultFeatureGate); err != nil {
		return fail("logging: %v", err)
	}
	defer klog.Flush()

	// The first SIGTERM/SIGINT closes stop and starts a clean shutdown; a
	// second one, or a shutdown that hangs, ends the process with status 1.
	sigCh := make(chan os.Signal, 2)
	signal.Notify(sigCh, syscall.SIGTERM, syscall.SIGINT)
	stop := make(chan struct{})
	go func() {
		<-sigCh
		if !o.verbose {
			quietForShutdown()
		}
		close(stop)
		time.AfterFunc(2*shutdownTimeout+5*time.Second, func() {
			fmt.Fprintln(os.Stderr, "postmaster-apiserver: shutdown hangs, exiting")
			os.Exit(1)
		})
		<-sigCh
		os.Exit(1)
	}()

	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return fail("%v", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fail("data dir: %v", err)
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return fail("%v", err)
	}
	defer unlock()
	pki := newPKIFiles(dataDir)
	if err := ensurePKI(pki); err != nil {
		return fail("certificates: %v", err)
	}

	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)))
	if err != nil {
		return fail("secure port: %v", err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	server := fmt.Sprintf("https://127.0.0.1:%d", port)
	kubeconfig := filepath.Join(dataDir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, pki); err != nil {
		return fail("kubeconfig: %v", err)
	}

	var kcm *controllerManager
	if !o.noKCM {
		if kcm, err = prepareControllerManager(kubeconfig, pki); err != nil {
			listener.Close()
			return fail("%v", err)
		}
	}

	etcd, etcdURL, err := startEtcd(dataDir, o.etcdPort, o.verbose, stop)
	if err != nil {
		listener.Close()
		if errors.Is(err, errInterrupted) {
			return 0
		}
		return fail("%v", err)
	}
	stopEtcd := func() {
		done := make(chan struct{})
		go func() { etcd.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			fmt.Fprintln(os.Stderr, "postmaster-apiserver: etcd did not stop within 5s")
		}
	}

	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	runAPI, err := newAPIServer(apiCtx, apiserverConfig{listener: listener, etcdURL: etcdURL, pki: pki})
	if err != nil {
		listener.Close()
		stopEtcd()
		return fail("%v", err)
	}
	apiDone := make(chan error, 1)
	go func() { apiDone <- runAPI(apiCtx) }()

	kcmCtx, stopKCM := context.WithCancel(context.Background())
	defer stopKCM()
	kcmDone := make(chan error, 1)

	// shutdown stops the components in reverse order of dependency.
	shutdown := func(kcmRunning bool) {
		if !o.verbose {
			quietForShutdown()
		}
		watchdog := time.AfterFunc(shutdownTimeout, func() {
			fmt.Fprintf(os.Stderr, "postmaster-apiserver: shutdown took longer than %s, exiting\n", shutdownTimeout)
			klog.Flush()
			os.Exit(1)
		})
		defer watchdog.Stop()
		stopKCM()
		if kcmRunning {
			select {
			case <-kcmDone:
			case <-time.After(3 * time.Second):
			}
		}
		debugf("controller manager stopped")
		stopAPI()
		if err := <-apiDone; err != nil {
			fmt.Fprintf(os.Stderr, "postmaster-apiserver: kube-apiserver stopped with: %v\n", err)
		}
		debugf("kube-apiserver stopped")
		stopEtcd()
		debugf("etcd stopped")
	}

	// Wait for readiness.
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		shutdown(false)
		return fail("kubeconfig: %v", err)
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		shutdown(false)
		return fail("client: %v", err)
	}
	readyCtx, readyCancel := context.WithTimeout(context.Background(), readyTimeout)
	readyErr := make(chan error, 1)
	go func() { readyErr <- waitReady(readyCtx, client) }()
	select {
	case err := <-readyErr:
		readyCancel()
		if err != nil {
			shutdown(false)
			return fail("kube-apiserver did not become ready: %v", err)
		}
	case err := <-apiDone:
		readyCancel()
		apiDone <- err // let shutdown see it
		shutdown(false)
		return fail("kube-apiserver exited during startup: %v", err)
	case err := <-etcd.Err():
		readyCancel()
		shutdown(false)
		return fail("etcd failed during startup: %v", err)
	case <-stop:
		// kube-apiserver exits the process (status 255) if it is stopped
		// while its post-start hooks still run: let it finish starting.
		select {
		case <-readyErr:
		case err := <-apiDone:
			apiDone <- err
		case <-time.After(shutdownTimeout):
		}
		readyCancel()
		shutdown(false)
		return 0
	}

	if kcm != nil {
		if err := kcm.start(kcmCtx, kcmDone); err != nil {
			shutdown(false)
			return fail("%v", err)
		}
	}

	fmt.Fprintf(os.Stdout, "READY kubeconfig=%s server=%s\n", kubeconfig, server)
	_ = os.Stdout.Sync()

	select {
	case <-stop:
		shutdown(!o.noKCM)
		return 0
	case err := <-apiDone:
		apiDone <- err
		shutdown(!o.noKCM)
		return fail("kube-apiserver exited: %v", err)
	case err := <-kcmDone:
		shutdown(false)
		return fail("kube-controller-manager exited: %v", err)
	case err := <-etcd.Err():
		shutdown(!o.noKCM)
		return fail("etcd failed: %v", err)
	}
}

// waitReady polls until /readyz answers "ok" and the default namespace exists.
func waitReady(ctx context.Context, client kubernetes.Interface) error {
	var last error
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		last = checkReady(ctx, client)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last check: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func checkReady(ctx context.Context, client kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %v", err)
	}
	if string(body) != "ok" {
		return fmt.Errorf("/readyz: %q", body)
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("default namespace: %v", err)
	}
	return nil
}
