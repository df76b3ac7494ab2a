package elb

import "fmt"

// ELBv2 error codes, as the API model names them.
const (
	CodeValidationError             = "ValidationError"
	CodeLoadBalancerNotFound        = "LoadBalancerNotFound"
	CodeTargetGroupNotFound         = "TargetGroupNotFound"
	CodeListenerNotFound            = "ListenerNotFound"
	CodeRuleNotFound                = "RuleNotFound"
	CodeDuplicateLoadBalancerName   = "DuplicateLoadBalancerName"
	CodeDuplicateTargetGroupName    = "DuplicateTargetGroupName"
	CodeDuplicateListener           = "DuplicateListener"
	CodeDuplicateTagKeys            = "DuplicateTagKeys"
	CodeInvalidTarget               = "InvalidTarget"
	CodeResourceInUse               = "ResourceInUse"
	CodeInvalidConfigurationRequest = "InvalidConfigurationRequest"
	CodeTooManyTags                 = "TooManyTags"
	CodeOperationNotPermitted       = "OperationNotPermitted"
	CodeSubnetNotFound              = "SubnetNotFound"
	CodeInvalidSubnet               = "InvalidSubnet"
	CodeIncompatibleProtocols       = "IncompatibleProtocols"
	CodeUnsupportedProtocol         = "UnsupportedProtocol"
	CodeTargetGroupAssociationLimit = "TargetGroupAssociationLimit"
	CodeInvalidLoadBalancerAction   = "InvalidLoadBalancerAction"
	CodeCertificateNotFound         = "CertificateNotFound"
	CodeInvalidSecurityGroup        = "InvalidSecurityGroup"
	CodeSSLPolicyNotFound           = "SSLPolicyNotFound"
	CodePriorityInUse               = "PriorityInUse"
	CodeTooManyTargets              = "TooManyTargets"
	CodeTooManyActions              = "TooManyActions"
)

// Error is an ELBv2 API error: a model error code and a message for the
// client.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ELBCode returns the error code and message the API sends to clients.
func (e *Error) ELBCode() (code, message string) { return e.Code, e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func validationf(format string, args ...any) *Error {
	return errorf(CodeValidationError, format, args...)
}
