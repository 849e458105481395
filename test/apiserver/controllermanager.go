package main

// A minimal kube-controller-manager, in-process: garbage collection of
// dependents (ownerReferences), namespace deletion, and the service-account
// controllers. It talks to the apiserver through the admin kubeconfig.

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	ctrlapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	ctrloptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

const controllers = "garbagecollector,namespace,serviceaccount,serviceaccount-token"

type controllerManager struct {
	opts                     *ctrloptions.KubeControllerManagerOptions
	known, disabledByDefault []string
	aliases                  map[string]string
}

// prepareControllerManager creates and parses the options. It must run before
// the kube-apiserver options are created: registering the controller
// manager's flags changes a feature-gate default (WatchListClient), which is
// refused once the gates have been added to another flag set.
func prepareControllerManager(kubeconfig string, p pkiFiles) (*controllerManager, error) {
	s, err := ctrloptions.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, err
	}
	cm := &controllerManager{opts: s, known: ctrlapp.KnownControllers(),
		disabledByDefault: ctrlapp.ControllersDisabledByDefault(), aliases: ctrlapp.ControllerAliases()}
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	for _, f := range s.Flags(cm.known, cm.disabledByDefault, cm.aliases).FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + controllers,
		"--leader-elect=false",
		"--secure-port=0", // no HTTPS endpoint of its own
		"--service-account-private-key-file=" + p.SAKey,
		"--root-ca-file=" + p.CACert,
		"--use-service-account-credentials=false",
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("kube-controller-manager flags: %w", err)
	}
	return cm, nil
}

// start builds the configuration and runs the controllers in the background
// until ctx is cancelled; done receives Run's result. The apiserver must
// already be healthy: the controller manager exits the process if it is not
// within 10s.
func (cm *controllerManager) start(ctx context.Context, done chan<- error) error {
	c, err := cm.opts.Config(ctx, cm.known, cm.disabledByDefault, cm.aliases)
	if err != nil {
		return fmt.Errorf("kube-controller-manager config: %w", err)
	}
	completed := c.Complete()
	go func() { done <- ctrlapp.Run(ctx, completed) }()
	return nil
}
