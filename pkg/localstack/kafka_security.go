package localstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// KafkaSecurity turns on authentication (and optionally encryption) on the
// brokers' client listener: SASL/SCRAM, over TLS when TLS is set. Off (nil)
// by default. Brokers talk to each other on the same listener as a
// generated admin user; the controller listener stays plaintext on loopback.
type KafkaSecurity struct {
	// Mechanism is SCRAM-SHA-256 (default) or SCRAM-SHA-512.
	Mechanism string
	// Users are the SCRAM credentials (user → password) created when the
	// storage is formatted, beside the brokers' own admin user.
	Users map[string]string
	// TLS serves the listener as SASL_SSL with a CA and a broker
	// certificate (127.0.0.1, localhost) generated in Go at start; clients
	// trust CAFile().
	TLS bool
}

// kafkaSecState is the security part of kafkaState (stack.json).
type kafkaSecState struct {
	Mechanism     string
	AdminUser     string
	AdminPassword string
	TLS           bool
	CAFile        string `json:",omitempty"`
	KeystoreFile  string `json:",omitempty"`
}

const kafkaAdminUser = "localstack-admin"

// prepareSecurity validates opts, generates the admin password and, for TLS,
// the certificates under dir/tls.
func prepareSecurity(dir string, s *KafkaSecurity) (*kafkaSecState, error) {
	if s == nil {
		return nil, nil
	}
	mech := strings.ToUpper(s.Mechanism)
	if mech == "" {
		mech = "SCRAM-SHA-256"
	}
	if mech != "SCRAM-SHA-256" && mech != "SCRAM-SHA-512" {
		return nil, fmt.Errorf("kafka: security mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
	for u, p := range s.Users {
		if u == "" || p == "" || strings.ContainsAny(u+p, `,=[]"`) || u == kafkaAdminUser {
			return nil, fmt.Errorf("kafka: SCRAM user %q: want a non-empty name and password without , = [ ] \"", u)
		}
	}
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	st := &kafkaSecState{Mechanism: mech, AdminUser: kafkaAdminUser, AdminPassword: hex.EncodeToString(pw[:]), TLS: s.TLS}
	if s.TLS {
		tlsDir := filepath.Join(dir, "tls")
		// Only the key directory is private: parents made 0700 here would
		// lock the postgres user out of a stack sharing them.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
		if err := os.Mkdir(tlsDir, 0o700); err != nil && !os.IsExist(err) {
			return nil, fmt.Errorf("kafka: %w", err)
		}
		ca, keystore, err := writeCerts(tlsDir)
		if err != nil {
			return nil, fmt.Errorf("kafka: certificates: %w", err)
		}
		st.CAFile, st.KeystoreFile = ca, keystore
	}
	return st, nil
}

// protocol is the client listener's security protocol.
func (s *kafkaSecState) protocol() string {
	if s.TLS {
		return "SASL_SSL"
	}
	return "SASL_PLAINTEXT"
}

// brokerProperties are the server.properties entries of a secured listener
// named CLIENT.
func (s *kafkaSecState) brokerProperties() map[string]string {
	jaas := fmt.Sprintf(`org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`, s.AdminUser, s.AdminPassword)
	p := map[string]string{
		"inter.broker.listener.name":           "CLIENT",
		"listener.security.protocol.map":       "CLIENT:" + s.protocol() + ",CONTROLLER:PLAINTEXT",
		"sasl.enabled.mechanisms":              s.Mechanism,
		"sasl.mechanism.inter.broker.protocol": s.Mechanism,
		"listener.name.client." + strings.ToLower(s.Mechanism) + ".sasl.jaas.config": jaas,
	}
	if s.TLS {
		p["ssl.keystore.type"] = "PEM"
		p["ssl.keystore.location"] = s.KeystoreFile
		p["ssl.truststore.type"] = "PEM"
		p["ssl.truststore.location"] = s.CAFile
		p["ssl.endpoint.identification.algorithm"] = "https"
	}
	return p
}

// formatArgs are StorageTool's --add-scram arguments: the admin user and
// every configured user.
func (s *kafkaSecState) formatArgs(users map[string]string) []string {
	all := map[string]string{s.AdminUser: s.AdminPassword}
	for u, p := range users {
		all[u] = p
	}
	var args []string
	for _, u := range slices.Sorted(maps.Keys(all)) {
		args = append(args, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", s.Mechanism, u, all[u]))
	}
	return args
}

// clientOpts are the kgo options of the admin user (readiness checks).
func (s *kafkaSecState) clientOpts() ([]kgo.Opt, error) {
	if s == nil {
		return nil, nil
	}
	a := scram.Auth{User: s.AdminUser, Pass: s.AdminPassword}
	opts := []kgo.Opt{kgo.SASL(a.AsSha256Mechanism())}
	if s.Mechanism == "SCRAM-SHA-512" {
		opts = []kgo.Opt{kgo.SASL(a.AsSha512Mechanism())}
	}
	if s.TLS {
		pemBytes, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, errors.New("kafka: no CA certificate in " + s.CAFile)
		}
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	return opts, nil
}

// CAFile is the PEM file of the CA that signed the brokers' certificate
// (empty unless the cluster runs with KafkaSecurity.TLS).
func (k *Kafka) CAFile() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.state.Security == nil {
		return ""
	}
	return k.state.Security.CAFile
}

// Mechanism is the SASL mechanism clients must use (empty without security).
func (k *Kafka) Mechanism() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.state.Security == nil {
		return ""
	}
	return k.state.Security.Mechanism
}

// writeCerts writes ca.pem (the CA certificate) and broker.pem (the broker's
// PKCS#8 key followed by its certificate chain, Kafka's PEM keystore layout)
// into dir. ECDSA P-256, valid for a day, for 127.0.0.1 and localhost.
func writeCerts(dir string) (caFile, keystoreFile string, err error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "orderpipe localstack CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	keystore := slices.Concat(
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		caPEM,
	)
	caFile, keystoreFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "broker.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keystoreFile, keystore, 0o600); err != nil {
		return "", "", err
	}
	return caFile, keystoreFile, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
