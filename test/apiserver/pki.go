package main

// Certificates, keys and the admin kubeconfig. Everything lives in
// <data-dir>/pki and is reused when present, so a restarted server keeps the
// same CA, serving certificate, admin credentials and service-account key.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/keyutil"
)

// certValidity is long on purpose: a data dir may be kept for a long time.
const certValidity = 10 * 365 * 24 * time.Hour

type pkiFiles struct {
	Dir string

	CACert, CAKey             string // serving CA (also root CA for service-account secrets)
	ServingCert, ServingKey   string // apiserver serving certificate, signed by the serving CA
	ClientCACert, ClientCAKey string // client CA, passed as --client-ca-file
	AdminCert, AdminKey       string // admin client certificate (O=system:masters)
	SAKey, SAPub              string // service-account signing key (RSA) and its public key
}

func newPKIFiles(dataDir string) pkiFiles {
	d := filepath.Join(dataDir, "pki")
	j := func(n string) string { return filepath.Join(d, n) }
	return pkiFiles{
		Dir:          d,
		CACert:       j("ca.crt"),
		CAKey:        j("ca.key"),
		ServingCert:  j("apiserver.crt"),
		ServingKey:   j("apiserver.key"),
		ClientCACert: j("client-ca.crt"),
		ClientCAKey:  j("client-ca.key"),
		AdminCert:    j("admin.crt"),
		AdminKey:     j("admin.key"),
		SAKey:        j("sa.key"),
		SAPub:        j("sa.pub"),
	}
}

type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// ensurePKI loads every certificate and key from p.Dir, creating those that
// are missing.
func ensurePKI(p pkiFiles) error {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return err
	}
	ca, err := loadOrCreateCA(p.CACert, p.CAKey, "postmaster-apiserver-ca")
	if err != nil {
		return fmt.Errorf("serving CA: %w", err)
	}
	clientCA, err := loadOrCreateCA(p.ClientCACert, p.ClientCAKey, "postmaster-apiserver-client-ca")
	if err != nil {
		return fmt.Errorf("client CA: %w", err)
	}
	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.0.0.1")},
	}
	if err := loadOrCreateLeaf(p.ServingCert, p.ServingKey, serving, ca); err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	admin := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "postmaster-admin", Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if err := loadOrCreateLeaf(p.AdminCert, p.AdminKey, admin, clientCA); err != nil {
		return fmt.Errorf("admin certificate: %w", err)
	}
	if err := loadOrCreateSAKey(p.SAKey, p.SAPub); err != nil {
		return fmt.Errorf("service-account key: %w", err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func loadKeyPair(certPath, keyPath string) (*keyPair, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no certificate PEM block", certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	k, err := keyutil.PrivateKeyFromFile(keyPath)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", keyPath)
	}
	return &keyPair{cert: cert, key: signer}, nil
}

func newECKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

func writeKeyPair(certPath, keyPath string, der []byte, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// Key first: a cert without its key is treated as "missing" on the next run.
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func loadOrCreateCA(certPath, keyPath, cn string) (*keyPair, error) {
	if exists(certPath) && exists(keyPath) {
		return loadKeyPair(certPath, keyPath)
	}
	key, err := newECKey()
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	if err := writeKeyPair(certPath, keyPath, der, key); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

// loadOrCreateLeaf keeps an existing certificate if it is still signed by ca;
// otherwise it issues a new one from tmpl.
func loadOrCreateLeaf(certPath, keyPath string, tmpl *x509.Certificate, ca *keyPair) error {
	if exists(certPath) && exists(keyPath) {
		kp, err := loadKeyPair(certPath, keyPath)
		if err != nil {
			return err
		}
		if err := kp.cert.CheckSignatureFrom(ca.cert); err == nil {
			return nil
		}
		// Signed by a CA that is gone: issue a new one below.
	}
	key, err := newECKey()
	if err != nil {
		return err
	}
	serial, err := randomSerial()
	if err != nil {
		return err
	}
	now := time.Now()
	t := *tmpl
	t.SerialNumber = serial
	t.NotBefore = now.Add(-time.Hour)
	t.NotAfter = now.Add(certValidity)
	t.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, &t, ca.cert, key.Public(), ca.key)
	if err != nil {
		return err
	}
	return writeKeyPair(certPath, keyPath, der, key)
}

func loadOrCreateSAKey(keyPath, pubPath string) error {
	if exists(keyPath) && exists(pubPath) {
		return nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeKubeconfig writes a self-contained kubeconfig (all data embedded).
func writeKubeconfig(path, server string, p pkiFiles) error {
	caData, err1 := os.ReadFile(p.CACert)
	certData, err2 := os.ReadFile(p.AdminCert)
	keyData, err3 := os.ReadFile(p.AdminKey)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	const name = "postmaster"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: certData, ClientKeyData: keyData}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = name
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}
