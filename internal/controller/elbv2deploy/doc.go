// Package elbv2deploy holds what kelb controller's Service and Ingress
// deployers share when they talk to kelb server through the ELBv2 API: the
// client interface they need, finding a stack's existing load balancer,
// listeners and target groups by their tags, and the small writes both make
// the same way (target group and listener attributes).
//
// Finding works from tags alone, as the AWS Load Balancer Controller does:
// every load balancer and target group is listed (DescribeLoadBalancers,
// DescribeTargetGroups, page by page), their tags are read 20 ARNs per
// DescribeTags call (the API's limit), and only those the caller's Owns
// accepts are kept; their attributes are then described one by one. A
// listener belongs to its load balancer, so listeners are listed for one
// load balancer ARN and not filtered by tags.
//
// Failure behaviour: any API error stops the find and is returned wrapped
// with the call and the resource it was about; nothing is written while
// finding, so a failed find leaves kelb server as it was. Callers retry on
// their next reconcile.
package elbv2deploy
