package health_test

import "k8s.io/client-go/rest"

// restConfig builds a client configuration for an endpoint that is never
// meant to answer (TLS verification is moot there).
type restConfig struct{ Host string }

func (r *restConfig) config() *rest.Config {
	return &rest.Config{Host: r.Host, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
}
