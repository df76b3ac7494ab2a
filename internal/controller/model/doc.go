// Package model holds the desired state of one load balancer of kelb
// server, as kelb controller's front-ends (Service, Ingress, Gateway API)
// build it and internal/controller/deploy makes kelb server hold it.
//
// A Stack is pure data: one load balancer, its listeners (each with its
// default action and rules), target groups and the TargetGroupBindings that
// register Kubernetes endpoints in them. Front-ends build a Stack with pure
// functions from Kubernetes objects; it serialises to JSON, so the
// front-ends' golden tests and a dry run read it. Nothing in this package
// talks to kelb server or Kubernetes, and nothing here fails: a front-end
// refuses bad input before it makes a Stack, and the deployer reports what
// kelb server refuses.
//
// Inside a stack, target groups are named by their ResourceID (the value of
// the front-end's resource tag); deploy turns these names into ARNs. Fields
// that a Kubernetes object leaves unset are empty here, and deploy leaves
// the matching setting of kelb server as it is (attributes, security
// groups, mutual TLS), as the AWS Load Balancer Controller does.
//
// A network load balancer's listener is a listener whose default action
// forwards to one target group (NetworkForward); an application load
// balancer's listener adds rules, redirects, fixed responses and
// authentication.
package model
