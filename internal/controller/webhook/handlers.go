package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// object is what the admission handlers decode: a pointer to a Kubernetes
// type.
type object interface {
	runtime.Object
	comparable
}

// review runs check on the object of a create or update request (old is the
// zero value on create); a delete or connect is allowed unseen. A request
// that does not decode is answered 400, as the AWS Load Balancer
// Controller's handlers do.
func review[T object](req admission.Request, dec admission.Decoder, newObj func() T) (obj, old T, skip bool, resp admission.Response) {
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
	default:
		return obj, old, true, admission.Allowed("")
	}
	obj = newObj()
	if err := dec.DecodeRaw(req.Object, obj); err != nil {
		return obj, old, true, admission.Errored(http.StatusBadRequest, fmt.Errorf("decode %s: %w", req.Kind.Kind, err))
	}
	if req.Operation == admissionv1.Update {
		old = newObj()
		if err := dec.DecodeRaw(req.OldObject, old); err != nil {
			return obj, old, true, admission.Errored(http.StatusBadRequest, fmt.Errorf("decode old %s: %w", req.Kind.Kind, err))
		}
	}
	return obj, old, false, admission.Response{}
}

// validating answers with validate's verdict: allowed, or denied with its
// error's message.
type validating[T object] struct {
	decoder  admission.Decoder
	newObj   func() T
	validate func(ctx context.Context, req admission.Request, obj, old T) error
}

func (h *validating[T]) Handle(ctx context.Context, req admission.Request) admission.Response {
	obj, old, skip, resp := review(req, h.decoder, h.newObj)
	if skip {
		return resp
	}
	if err := h.validate(ctx, req, obj, old); err != nil {
		return admission.Denied(err.Error())
	}
	return admission.Allowed("")
}

// mutating answers with the patch from the request's object to what
// mutate made of it, or denied with mutate's error.
type mutating[T object] struct {
	decoder admission.Decoder
	newObj  func() T
	mutate  func(ctx context.Context, req admission.Request, obj, old T) error
}

func (h *mutating[T]) Handle(ctx context.Context, req admission.Request) admission.Response {
	obj, old, skip, resp := review(req, h.decoder, h.newObj)
	if skip {
		return resp
	}
	if err := h.mutate(ctx, req, obj, old); err != nil {
		return admission.Denied(err.Error())
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}
