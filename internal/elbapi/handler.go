package elbapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// OpFunc performs one operation.
type OpFunc func(ctx context.Context, p Params) (result any, err error)

// HandlerConfig configures NewHandler.
type HandlerConfig struct {
	Ops         map[string]OpFunc
	Credentials Credentials
	Region      string
	Now         func() time.Time
	Logger      *slog.Logger
}

// NewHandler returns the ELBv2 Query API handler.
func NewHandler(cfg HandlerConfig) http.Handler {
	return http.NotFoundHandler()
}
