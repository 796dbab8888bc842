package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// ErrAuth marks a Kafka connection refused for its credentials or its TLS
// settings: a configuration error that no retry fixes.
var ErrAuth = errors.New("kafka: authentication failed")

// SecurityCheckTimeout bounds the start-up check of NewClient.
const SecurityCheckTimeout = 10 * time.Second

// checkSecurity runs when SASL or TLS is configured: one metadata request,
// so wrong credentials, a wrong mechanism or an untrusted certificate stop
// a service at start with a message naming the settings (ErrAuth), within
// SecurityCheckTimeout — instead of every produce failing later. Kafka not
// answering at all is not an error here: it may come up after us, and the
// readiness check reports it meanwhile.
func checkSecurity(cl *kgo.Client, cfg config.Kafka) error {
	ctx, cancel := context.WithTimeout(context.Background(), SecurityCheckTimeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // no topics: brokers only
	_, err := cl.Request(ctx, req)
	if err == nil || !isAuthError(err) {
		return nil
	}
	sasl := "none"
	if cfg.SASLMechanism != "" {
		sasl = fmt.Sprintf("%s as user %q", strings.ToUpper(cfg.SASLMechanism), cfg.SASLUser)
	}
	return fmt.Errorf("%w at %s (SASL %s, TLS %t): %w; check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_TLS and KAFKA_TLS_CA_FILE",
		ErrAuth, strings.Join(cfg.Brokers, ","), sasl, cfg.TLS || cfg.TLSCAFile != "", err)
}

// isAuthError reports whether err means the broker (or its certificate)
// refused us, as opposed to not answering.
func isAuthError(err error) bool {
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verify     *tls.CertificateVerificationError
		recordHdr  tls.RecordHeaderError
		alertError tls.AlertError
	)
	return errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState) || errors.Is(err, kerr.ClusterAuthorizationFailed) ||
		errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &recordHdr) || errors.As(err, &alertError)
}
