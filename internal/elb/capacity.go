package elb

import (
	"context"
	"fmt"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Capacity reservations, IPAM pools and resource policies: AWS features
// that kelb answers truthfully without having them. A kelb load balancer's
// capacity is that of the server it runs on, which no reservation can
// raise; its addresses come from the zones' pools, not from IPAM; no
// resource of kelb carries a resource policy. The read operations report
// exactly that (no reservation, no pools, no policy) and the write
// operations validate their input as AWS does, then refuse with the error
// AWS gives when the thing cannot be had, so a client never believes it
// got capacity or addresses kelb does not provide.

// CapacityReservation is what DescribeCapacityReservation reports.
type CapacityReservation struct {
	// DecreaseRequestsRemaining is how many decreases are left today: kelb
	// never holds a reservation to decrease, so all of them.
	DecreaseRequestsRemaining int32
}

// CapacityDecreasesPerDay is how many times a day AWS lets a reservation
// shrink.
const CapacityDecreasesPerDay = 2

// DescribeCapacityReservation reports the LCU reservation of a load
// balancer: none, with no zonal state.
func (s *Service) DescribeCapacityReservation(ctx context.Context, arn string) (CapacityReservation, error) {
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		_, err := getLoadBalancer(tx, arn)
		return err
	})
	if err != nil {
		return CapacityReservation{}, fmt.Errorf("describe capacity reservation of %s: %w", arn, err)
	}
	return CapacityReservation{DecreaseRequestsRemaining: CapacityDecreasesPerDay}, nil
}

// ModifyCapacityReservationInput is the input of ModifyCapacityReservation:
// exactly one of MinimumCapacityUnits and Reset.
type ModifyCapacityReservationInput struct {
	LoadBalancerARN      string
	MinimumCapacityUnits *int32
	Reset                bool
}

// ModifyCapacityReservation validates a reservation request as AWS does.
// Resetting succeeds (there is nothing to release); reserving capacity
// fails with InsufficientCapacity, since kelb cannot set capacity aside.
func (s *Service) ModifyCapacityReservation(ctx context.Context, in ModifyCapacityReservationInput) (CapacityReservation, error) {
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		w, err := s.readWorld(tx)
		if err != nil {
			return err
		}
		lb, ok := w.lbs[in.LoadBalancerARN]
		if !ok {
			return errorf(CodeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerARN)
		}
		switch {
		case in.MinimumCapacityUnits == nil && !in.Reset:
			return validationf("You must specify either MinimumLoadBalancerCapacity or ResetCapacityReservation")
		case in.MinimumCapacityUnits != nil && in.Reset:
			return validationf("You cannot specify both MinimumLoadBalancerCapacity and ResetCapacityReservation")
		case in.Reset:
			return nil
		case *in.MinimumCapacityUnits <= 0:
			return validationf("MinimumLoadBalancerCapacity.CapacityUnits must be greater than 0")
		}
		if lb.Type == TypeNetwork {
			for _, l := range w.listeners {
				if l.LoadBalancerARN == lb.ARN && l.Protocol == "TLS" {
					return errorf(CodeOperationNotPermitted, "Capacity reservations are not supported on Network Load Balancers with TLS listeners")
				}
			}
		}
		return errorf("InsufficientCapacity", "kelb cannot reserve %d capacity units for load balancer '%s': its capacity is that of the kelb server, which no reservation changes", *in.MinimumCapacityUnits, lb.Name)
	})
	if err != nil {
		return CapacityReservation{}, fmt.Errorf("modify capacity reservation of %s: %w", in.LoadBalancerARN, err)
	}
	return CapacityReservation{DecreaseRequestsRemaining: CapacityDecreasesPerDay}, nil
}

// IpamPoolsInput is the input of ModifyIpPools.
type IpamPoolsInput struct {
	LoadBalancerARN string
	// IPv4Pool is the IPAM pool id to use, or empty.
	IPv4Pool string
	// Remove lists pool types to remove ("ipv4").
	Remove []string
}

// ModifyIpPools changes the IPAM pools of an Application Load Balancer.
// kelb has no IPAM pools: removing succeeds and leaves none, and naming a
// pool fails as for a pool that does not exist.
func (s *Service) ModifyIpPools(ctx context.Context, in IpamPoolsInput) error {
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		lb, err := getLoadBalancer(tx, in.LoadBalancerARN)
		if err != nil {
			return err
		}
		if lb.Type != TypeApplication {
			return validationf("IPAM pools are only supported by Application Load Balancers")
		}
		for _, r := range in.Remove {
			if r != "ipv4" {
				return validationf("RemoveIpamPools value '%s' is not valid; use 'ipv4'", r)
			}
		}
		if in.IPv4Pool != "" {
			if lb.Scheme != SchemeInternetFacing {
				return validationf("IPAM pools supply public IPv4 addresses and are only supported by internet-facing load balancers")
			}
			return errorf(CodeInvalidConfigurationRequest, "The IPAM pool '%s' does not exist: kelb has no IPAM pools, and load balancer addresses come from the zones' pools", in.IPv4Pool)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("modify IP pools of %s: %w", in.LoadBalancerARN, err)
	}
	return nil
}

// GetResourcePolicy returns the resource policy of a resource. kelb's
// resources have none, and trust stores (the resources AWS attaches
// policies to) are not kept: every ARN answers ResourceNotFound.
func (s *Service) GetResourcePolicy(ctx context.Context, arn string) (string, error) {
	return "", fmt.Errorf("get resource policy of %s: %w", arn,
		errorf("ResourceNotFound", "No resource policy exists for resource '%s'", arn))
}
