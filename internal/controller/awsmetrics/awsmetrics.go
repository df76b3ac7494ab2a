// Package awsmetrics counts kelb controller's calls to kelb server's AWS
// APIs (ELBv2, EC2, ACM, Resource Groups Tagging) under the AWS Load
// Balancer Controller's metric names, so that an operator sees how many
// calls a reconcile or a cold start costs:
//
//   - aws_api_calls_total{service, operation, status_code, error_code}:
//     SDK calls, retries included in one call;
//   - aws_api_call_duration_seconds{service, operation}: their latency,
//     retries included;
//   - aws_api_requests_total{service, operation, status_code, error_code}:
//     HTTP attempts, each retry counted.
//
// A call that fails before an answer (connection refused, a cancelled
// context) has status_code 0 and error_code the error's class
// (RequestCanceled, or RequestSendError); counting never changes a call's
// outcome.
package awsmetrics

import (
	"context"
	"errors"
	"strconv"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the counters; its APIOption goes into an aws.Config's
// APIOptions.
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec
}

// New registers the metrics with reg (nil: kept unregistered).
func New(reg prometheus.Registerer) *Metrics {
	labels := []string{"service", "operation", "status_code", "error_code"}
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: "aws", Name: "api_calls_total",
			Help: "AWS API calls of the controller (retries within a call are one call), by service, operation, HTTP status and error code."}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Subsystem: "aws", Name: "api_call_duration_seconds",
			Help: "Latency of the controller's AWS API calls, retries included."}, []string{"service", "operation"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: "aws", Name: "api_requests_total",
			Help: "HTTP requests the controller's AWS SDK made (every retry counted), by service, operation, HTTP status and error code."}, labels),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.duration, m.requests)
	}
	return m
}

// APIOption adds the counting middlewares to a client's stack: one around
// the whole call, one around each attempt.
func (m *Metrics) APIOption(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("kelbAWSCallMetrics",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			start := time.Now()
			out, md, err := next.HandleInitialize(ctx, in)
			service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
			status, code := outcome(err)
			m.calls.WithLabelValues(service, op, status, code).Inc()
			m.duration.WithLabelValues(service, op).Observe(time.Since(start).Seconds())
			return out, md, err
		}), middleware.Before); err != nil {
		return err
	}
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("kelbAWSRequestMetrics",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleFinalize(ctx, in)
			status, code := outcome(err)
			m.requests.WithLabelValues(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), status, code).Inc()
			return out, md, err
		}), middleware.After)
}

// outcome returns the HTTP status and error code labels of a call's
// result.
func outcome(err error) (status, code string) {
	if err == nil {
		return "200", ""
	}
	status = "0"
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = strconv.Itoa(re.HTTPStatusCode())
	}
	var api smithy.APIError
	switch {
	case errors.As(err, &api):
		code = api.ErrorCode()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = "RequestCanceled"
	default:
		code = "RequestSendError"
	}
	return status, code
}
