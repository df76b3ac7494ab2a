package fleet

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is what a node is doing, as its key shows the fleet.
type State string

// Node states.
const (
	// StateServing: the node's last data plane apply succeeded.
	StateServing State = "serving"
	// StateDataPlaneFailing: the node's last data plane apply failed; it
	// serves what it applied before.
	StateDataPlaneFailing State = "dataplane-failing"
	// StateStopping: the node is shutting down cleanly.
	StateStopping State = "stopping"
)

// Node is one kelb server of the fleet, as its key holds it.
type Node struct {
	Name string `json:"name"`
	// Zones are the zones whose load balancer addresses the node serves,
	// announces and health-checks for.
	Zones []string `json:"zones"`
	// API is the address of the node's ELBv2 API.
	API   string `json:"api"`
	State State  `json:"state"`
	// Since is when the node entered State.
	Since time.Time `json:"since"`
	// Started is when the node's process started.
	Started time.Time `json:"started"`
	Version string    `json:"version"`
}

// Serves reports whether n serves zone.
func (n Node) Serves(zone string) bool { return slices.Contains(n.Zones, zone) }

// Keys under the store's prefix.
const (
	nodesDir  = "nodes/"
	healthDir = "health/"
)

func nodesPrefix(prefix string) string            { return prefix + nodesDir }
func nodeKey(prefix, name string) string          { return nodesPrefix(prefix) + name }
func healthPrefix(prefix string) string           { return prefix + healthDir }
func nodeHealthPrefix(prefix, name string) string { return healthPrefix(prefix) + name + "/" }

// ValidateName checks that name can name a node in etcd keys.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("node name is empty")
	}
	if strings.ContainsAny(name, "/\x00") || strings.TrimSpace(name) != name {
		return fmt.Errorf("node name %q: must not contain / or NUL, nor start or end with white space", name)
	}
	return nil
}

func decodeNode(key string, value []byte) (Node, error) {
	var n Node
	if err := json.Unmarshal(value, &n); err != nil {
		return Node{}, fmt.Errorf("node key %s: %w", key, err)
	}
	return n, nil
}
