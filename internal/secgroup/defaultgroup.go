package secgroup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// DefaultName is the name of a VPC's default security group, the group
// an instance gets when it is given none. AWS makes it with the VPC; it
// cannot be deleted, nor another group be given its name.
const DefaultName = "default"

// CodeCannotDelete is EC2's code for deleting the default group.
const CodeCannotDelete = "CannotDelete"

// DefaultGroupID is the id of the default group of vpcID: derived from it,
// so that every kelb server of a fleet names the same group.
func DefaultGroupID(vpcID string) string {
	sum := sha256.Sum256([]byte("kelb-default-security-group/" + vpcID))
	return "sg-" + hex.EncodeToString(sum[:])[:17]
}

// EnsureDefault creates the VPC's default group unless it exists, as AWS
// makes it: all traffic in from members of the group itself, all traffic
// out to anywhere. Rules changed since are kept.
func (g *Groups) EnsureDefault(ctx context.Context) (SecurityGroup, error) {
	id := DefaultGroupID(g.cfg.VpcID)
	var out SecurityGroup
	err := g.cfg.Store.Update(ctx, func(tx store.Tx) error {
		sg, err := g.find(tx, Ref{ID: id})
		if err == nil {
			out = *sg
			return nil
		}
		var serr *Error
		if !errors.As(err, &serr) || serr.Code != CodeGroupNotFound {
			return err
		}
		out = SecurityGroup{
			ID: id, Name: DefaultName, Description: "default VPC security group", VpcID: g.cfg.VpcID, OwnerID: g.cfg.AccountID,
			Ingress: []Rule{{ID: newID("sgr-"), Protocol: ProtocolAll, GroupID: id}},
			Egress:  []Rule{{ID: newID("sgr-"), Protocol: ProtocolAll, CIDR: "0.0.0.0/0"}},
		}
		return put(tx, &out)
	})
	return out, err
}
