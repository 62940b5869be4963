package health

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"k8s.io/client-go/rest"
)

// Readyz asks a Kubernetes API server's /readyz. It satisfies APIServer.
type Readyz struct {
	Host   string
	Client *http.Client
}

// NewReadyz returns a Readyz for the API server cfg describes (the same
// configuration the drain worker uses, see internal/secrets).
func NewReadyz(cfg *rest.Config) (*Readyz, error) {
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("health: API server client: %w", err)
	}
	return &Readyz{Host: strings.TrimSuffix(cfg.Host, "/"), Client: c}, nil
}

// Ready returns nil when /readyz answers 200, else why not.
func (r *Readyz) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.Host+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
