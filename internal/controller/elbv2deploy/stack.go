package elbv2deploy

import "github.com/kelb-io/kelb/internal/controller/model"

// HealthCheck is a target group's health check in the model's terms.
type HealthCheck = model.HealthCheck
