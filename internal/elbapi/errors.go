package elbapi

import "fmt"

// Error is an API error.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ValidationError returns a ValidationError (400).
func ValidationError(format string, args ...any) *Error {
	return &Error{Code: "ValidationError", Message: fmt.Sprintf(format, args...), Status: 400}
}
