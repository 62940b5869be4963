package cfn

import (
	"encoding/json"
	"fmt"

	"github.com/awslabs/goformation/v7/cloudformation"
)

// patched is a goformation resource with some Properties replaced by values
// its typed fields cannot hold: goformation types integer and list
// properties as Go ints and []string, so an intrinsic (a Ref to a Number or
// List parameter, a FindInMap) cannot be put there.
type patched struct {
	cloudformation.Resource
	props map[string]any
}

func withProps(r cloudformation.Resource, props map[string]any) patched {
	return patched{Resource: r, props: props}
}

func (p patched) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(p.Resource)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	props, ok := m["Properties"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("cfn: %s has no Properties to patch", p.AWSCloudFormationType())
	}
	for k, v := range p.props {
		props[k] = v
	}
	return json.Marshal(m)
}
