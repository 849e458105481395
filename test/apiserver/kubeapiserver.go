package main

// kube-apiserver, in-process, configured through its own command-line flags.

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	apiapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apioptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

const (
	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	serviceClusterCIDR   = "10.0.0.0/24"
)

type apiserverConfig struct {
	listener net.Listener // secure port, already bound on 127.0.0.1
	etcdURL  string
	pki      pkiFiles
}

// newAPIServer validates and completes the options; the returned function
// runs the server until ctx is cancelled.
func newAPIServer(ctx context.Context, c apiserverConfig) (func(context.Context) error, error) {
	s := apioptions.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	port := c.listener.Addr().(*net.TCPAddr).Port
	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + c.pki.Dir,
		"--tls-cert-file=" + c.pki.ServingCert,
		"--tls-private-key-file=" + c.pki.ServingKey,
		"--client-ca-file=" + c.pki.ClientCACert,
		"--etcd-servers=" + c.etcdURL,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--api-audiences=" + serviceAccountIssuer,
		"--service-account-key-file=" + c.pki.SAPub,
		"--service-account-signing-key-file=" + c.pki.SAKey,
		"--service-cluster-ip-range=" + serviceClusterCIDR,
		// The "kubernetes" Endpoints cannot hold a loopback address (validation
		// rejects it), so do not try to maintain them.
		"--endpoint-reconciler-type=none",
		// End open watches on SIGTERM instead of waiting up to a minute for
		// the HTTP server to drain them.
		"--shutdown-watch-termination-grace-period=2s",
		"--profiling=false",
		"--enable-priority-and-fairness=true",
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("kube-apiserver flags: %w", err)
	}
	s.SecureServing.Listener = c.listener
	s.SecureServing.BindPort = port

	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	// The loopback clients of kube-apiserver should not print warnings.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, fmt.Errorf("kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}
	fg := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	if mfg, ok := fg.(featuregate.MutableFeatureGate); ok {
		mfg.AddMetrics()
	}
	return func(ctx context.Context) error { return apiapp.Run(ctx, completed) }, nil
}
