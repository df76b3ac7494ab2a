package v1beta1

// KeepDefaulted copies into s the fields the admission webhook fills in
// from the target group when a binding is created (vpcID,
// targetGroupProtocol) and that s leaves unset, from existing. A
// controller that writes a binding's whole spec calls it so that an update
// neither drops them (the validating webhook refuses a change of vpcID) nor
// differs from what is stored on every pass.
func (s *TargetGroupBindingSpec) KeepDefaulted(existing *TargetGroupBindingSpec) {
	if s.VpcID == "" {
		s.VpcID = existing.VpcID
	}
	if s.TargetGroupProtocol == nil && existing.TargetGroupProtocol != nil {
		p := *existing.TargetGroupProtocol
		s.TargetGroupProtocol = &p
	}
}
