package ingress

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Annotations that ask the load balancer to authenticate clients: auth.go
// builds them into authenticate actions. Authenticate action types in an
// actions annotation are refused (see refuseUnprotected): serving those
// paths without the protection would open them to anyone.
const (
	AnnotationAuthType       = AnnotationPrefix + "auth-type"
	AnnotationAuthIDPCognito = AnnotationPrefix + "auth-idp-cognito"
	AnnotationAuthIDPOIDC    = AnnotationPrefix + "auth-idp-oidc"
	AnnotationJWTValidation  = AnnotationPrefix + "jwt-validation"
)

// AnnotationMutualAuthentication is the mutual TLS of HTTPS listeners
// (mtls.go).
const AnnotationMutualAuthentication = AnnotationPrefix + "mutual-authentication"

// Action types that authenticate the request before it is routed.
const (
	actionAuthenticateOIDC    = "authenticate-oidc"
	actionAuthenticateCognito = "authenticate-cognito"
	actionJWTValidation       = "jwt-validation"
)

// unimplemented is the error for an annotation whose protection kelb
// cannot give.
func unimplemented(ann annotations, key, why string) *AnnotationError {
	return &AnnotationError{Key: key, Value: ann[key], Reason: why, Unimplemented: true}
}

// refuseUnprotected fails when the annotations of an Ingress or of a
// backend Service ask for authentication. Such an object is
// not deployed in a weaker form: the build fails, so a load balancer that
// already serves stays as it was and a new one is not made. Annotations
// that switch the protection off (auth-type none) build as before.
func refuseUnprotected(ann annotations) error {
	keys := make([]string, 0, len(ann))
	for k := range ann {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := refuseOne(ann, k); err != nil {
			return err
		}
	}
	return nil
}

func refuseOne(ann annotations, key string) error {
	raw, _ := ann.Str(key)
	switch key {
	case AnnotationAuthType:
		// auth-type oidc and cognito are built into authenticate actions
		// (auth.go).
		switch raw {
		case "none", "oidc", "cognito":
			return nil
		}
		return ann.Fail(key, "must be one of none, oidc, cognito")
	}
	if _, ok := strings.CutPrefix(key, AnnotationActionsPrefix); ok {
		// Only the type is read here; parseAction checks the rest of an
		// action that kelb implements.
		var a struct {
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(raw), &a) != nil {
			return nil
		}
		return refuseActionType(ann, key, a.Type)
	}
	return nil
}

// refuseActionType fails for the action types that authenticate a request.
func refuseActionType(ann annotations, key, typ string) error {
	switch typ {
	case actionAuthenticateOIDC, actionAuthenticateCognito:
		return unimplemented(ann, key, fmt.Sprintf("action type %s asks for authentication (OIDC, Cognito)", typ))
	case actionJWTValidation:
		return unimplemented(ann, key, fmt.Sprintf("action type %s asks for JWT validation", typ))
	}
	return nil
}
