package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RuleCondition is a condition a route's match cannot express.
type RuleCondition struct {
	// +kubebuilder:validation:Enum=source-ip
	Field string `json:"field"`
	// +optional
	SourceIPConfig *SourceIPCondition `json:"sourceIPConfig,omitempty"`
	// MatchIndexes are the route rule's matches the condition joins; all
	// when unset.
	// +optional
	MatchIndexes *[]int `json:"matchIndexes,omitempty"`
}

// SourceIPCondition matches the client's address.
type SourceIPCondition struct {
	// +kubebuilder:validation:MinItems=1
	Values []string `json:"values"`
}

// Stickiness is a forward action's target group stickiness.
type Stickiness struct {
	// +optional
	DurationSeconds *int32 `json:"durationSeconds,omitempty"`
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// ForwardConfig adds to a route rule's forward.
type ForwardConfig struct {
	// +optional
	TargetGroupStickinessConfig *Stickiness `json:"targetGroupStickinessConfig,omitempty"`
}

// RedirectConfig adds to a route rule's RequestRedirect.
type RedirectConfig struct {
	// +optional
	Query *string `json:"query,omitempty"`
}

// FixedResponseConfig answers with a fixed response.
type FixedResponseConfig struct {
	StatusCode int32 `json:"statusCode"`
	// +kubebuilder:validation:Enum=text/plain;text/css;text/html;application/javascript;application/json
	// +optional
	ContentType *string `json:"contentType,omitempty"`
	// +optional
	MessageBody *string `json:"messageBody,omitempty"`
}

// SecretReference names a Secret of the referrer's namespace.
type SecretReference struct {
	Name string `json:"name"`
}

// CognitoConfig authenticates with an Amazon Cognito user pool.
type CognitoConfig struct {
	UserPoolArn      string `json:"userPoolArn"`
	UserPoolClientID string `json:"userPoolClientId"`
	UserPoolDomain   string `json:"userPoolDomain"`
	// +optional
	Scope *string `json:"scope,omitempty"`
	// +optional
	AuthenticationRequestExtraParams *map[string]string `json:"authenticationRequestExtraParams,omitempty"`
	// +kubebuilder:validation:Enum=deny;allow;authenticate
	// +optional
	OnUnauthenticatedRequest *string `json:"onUnauthenticatedRequest,omitempty"`
	// +optional
	SessionCookieName *string `json:"sessionCookieName,omitempty"`
	// +optional
	SessionTimeout *int64 `json:"sessionTimeout,omitempty"`
}

// OIDCConfig authenticates with an OpenID Connect provider.
type OIDCConfig struct {
	AuthorizationEndpoint string           `json:"authorizationEndpoint"`
	Secret                *SecretReference `json:"secret"`
	Issuer                string           `json:"issuer"`
	TokenEndpoint         string           `json:"tokenEndpoint"`
	UserInfoEndpoint      string           `json:"userInfoEndpoint"`
	// +optional
	Scope *string `json:"scope,omitempty"`
	// +optional
	AuthenticationRequestExtraParams *map[string]string `json:"authenticationRequestExtraParams,omitempty"`
	// +kubebuilder:validation:Enum=deny;allow;authenticate
	// +optional
	OnUnauthenticatedRequest *string `json:"onUnauthenticatedRequest,omitempty"`
	// +optional
	SessionCookieName *string `json:"sessionCookieName,omitempty"`
	// +optional
	SessionTimeout *int64 `json:"sessionTimeout,omitempty"`
	// +optional
	UseExistingClientSecret *bool `json:"useExistingClientSecret,omitempty"`
}

// JWTClaim is an additional claim a JWT must carry.
type JWTClaim struct {
	// +kubebuilder:validation:Enum=single-string;string-array;space-separated-values
	Format string   `json:"format"`
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

// JWTValidationConfig validates a bearer JWT.
type JWTValidationConfig struct {
	Issuer       string `json:"issuer"`
	JwksEndpoint string `json:"jwksEndpoint"`
	// +optional
	AdditionalClaims []JWTClaim `json:"additionalClaims,omitempty"`
}

// RuleAction is an action of a route rule's listener rule.
type RuleAction struct {
	// +kubebuilder:validation:Enum=forward;fixed-response;redirect;authenticate-cognito;authenticate-oidc;jwt-validation
	Type string `json:"type"`
	// +optional
	ForwardConfig *ForwardConfig `json:"forwardConfig,omitempty"`
	// +optional
	RedirectConfig *RedirectConfig `json:"redirectConfig,omitempty"`
	// +optional
	FixedResponseConfig *FixedResponseConfig `json:"fixedResponseConfig,omitempty"`
	// +optional
	AuthenticateCognitoConfig *CognitoConfig `json:"authenticateCognitoConfig,omitempty"`
	// +optional
	AuthenticateOIDCConfig *OIDCConfig `json:"authenticateOIDCConfig,omitempty"`
	// +optional
	JwtValidationConfig *JWTValidationConfig `json:"jwtValidationConfig,omitempty"`
}

// ListenerRuleConfigurationSpec adds actions and conditions to the
// listener rules of the route rules that name it (an ExtensionRef filter).
type ListenerRuleConfigurationSpec struct {
	// +kubebuilder:validation:MaxItems=2
	// +optional
	Actions []RuleAction `json:"actions,omitempty"`
	// +optional
	Conditions []RuleCondition `json:"conditions,omitempty"`
	// +optional
	Tags *map[string]string `json:"tags,omitempty"`
}

// ListenerRuleConfigurationStatus says whether the controller accepted
// the configuration.
type ListenerRuleConfigurationStatus struct {
	// +optional
	ObservedGeneration *int64 `json:"observedGeneration,omitempty"`
	// +optional
	Accepted *bool `json:"accepted,omitempty"`
	// +optional
	Message *string `json:"message,omitempty"`
}

// ListenerRuleConfiguration sets listener rules of route rules.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
type ListenerRuleConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ListenerRuleConfigurationSpec   `json:"spec,omitempty"`
	Status ListenerRuleConfigurationStatus `json:"status,omitempty"`
}

// ListenerRuleConfigurationList is a list of ListenerRuleConfigurations.
//
// +kubebuilder:object:root=true
type ListenerRuleConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ListenerRuleConfiguration `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ListenerRuleConfiguration{}, &ListenerRuleConfigurationList{})
}
