// saml-go validates SAML responses with two Go service-provider libraries,
// github.com/crewjam/saml and github.com/russellhaering/gosaml2, for the ACS
// benchmark (test/bench) and its peer test. Built by tools/peers/build.sh;
// driven by test/support/saml-peers.ts.
//
// Protocol, one JSON document per line. The first line on stdin is the setup:
// the IdP certificate and entity ID, the SP entity ID and ACS URL, the
// expected NameID and the responses, each base64 with the AuthnRequest ID it
// answers. Every further line asks one library to validate the responses
// [from, to); the answer, on one stdout line, says whether each was accepted
// (with the expected NameID), how long each took (µs, timed here on its own
// around the library call: process start and JSON I/O are not in the
// figures) and the first refusal messages. The process ends when stdin
// closes. Run it with GOMAXPROCS=1: one goroutine validates, one at a time,
// so the benchmark can interleave its segments with the other libraries'.
package main

import (
	"bufio"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/crewjam/saml"
	saml2 "github.com/russellhaering/gosaml2"
	dsig "github.com/russellhaering/goxmldsig"
)

type sample struct {
	SAMLResponse string `json:"samlResponse"`
	RequestID    string `json:"requestId"`
}

type setup struct {
	IdpCertPem     string   `json:"idpCertPem"`
	IdpEntityID    string   `json:"idpEntityId"`
	SpEntityID     string   `json:"spEntityId"`
	AcsURL         string   `json:"acsUrl"`
	ExpectedNameID string   `json:"expectedNameId"`
	Samples        []sample `json:"samples"`
}

type request struct {
	Library string `json:"library"`
	From    int    `json:"from"`
	To      int    `json:"to"`
}

type answer struct {
	Accepted  []bool    `json:"accepted"`
	TimingsUs []float64 `json:"timingsUs"`
	Errors    []string  `json:"errors"`
	Error     string    `json:"error,omitempty"`
}

type validator func(s sample) error

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "saml-go:", err)
		os.Exit(2)
	}
}

func run() error {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 1<<30)
	out := json.NewEncoder(os.Stdout)
	if !in.Scan() {
		return errors.New("no setup line on stdin")
	}
	var set setup
	if err := json.Unmarshal(in.Bytes(), &set); err != nil {
		return fmt.Errorf("reading the setup line: %w", err)
	}
	block, _ := pem.Decode([]byte(set.IdpCertPem))
	if block == nil {
		return errors.New("idpCertPem holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("idpCertPem: %w", err)
	}
	acs, err := url.Parse(set.AcsURL)
	if err != nil {
		return fmt.Errorf("acsUrl: %w", err)
	}
	validators := map[string]validator{"crewjam": crewjam(set, cert, *acs), "gosaml2": gosaml2(set, cert)}

	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			return fmt.Errorf("reading a request line: %w", err)
		}
		validate, known := validators[req.Library]
		var a answer
		switch {
		case !known:
			a.Error = fmt.Sprintf("unknown library %q (crewjam, gosaml2)", req.Library)
		case req.From < 0 || req.To < req.From || req.To > len(set.Samples):
			a.Error = fmt.Sprintf("bad range [%d, %d) of %d responses", req.From, req.To, len(set.Samples))
		default:
			a = segment(validate, set.Samples, req.From, req.To)
		}
		if err := out.Encode(a); err != nil {
			return err
		}
	}
	return in.Err()
}

func segment(validate validator, samples []sample, from, to int) answer {
	a := answer{Accepted: make([]bool, 0, to-from), TimingsUs: make([]float64, 0, to-from), Errors: []string{}}
	for i := from; i < to; i++ {
		t0 := time.Now()
		err := validate(samples[i])
		a.TimingsUs = append(a.TimingsUs, float64(time.Since(t0).Nanoseconds())/1000)
		a.Accepted = append(a.Accepted, err == nil)
		if err != nil && len(a.Errors) < 3 {
			a.Errors = append(a.Errors, fmt.Sprintf("response %d: %v", i, err))
		}
	}
	return a
}

// crewjam: ServiceProvider.ParseXMLResponse checks the signatures (Response if
// signed, else each Assertion must be), Destination, Issuer, InResponseTo
// against the possible request IDs, audience, Recipient, and the times.
func crewjam(in setup, cert *x509.Certificate, acs url.URL) validator {
	// The benchmark's responses are generated before the run and validated
	// minutes later; crewjam refuses an assertion issued more than MaxIssueDelay
	// (90 s by default) ago. NotBefore/NotOnOrAfter are still checked.
	saml.MaxIssueDelay = 3 * time.Hour
	sp := &saml.ServiceProvider{
		EntityID: in.SpEntityID,
		AcsURL:   acs,
		IDPMetadata: &saml.EntityDescriptor{
			EntityID: in.IdpEntityID,
			IDPSSODescriptors: []saml.IDPSSODescriptor{{SSODescriptor: saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{
				KeyDescriptors: []saml.KeyDescriptor{{
					Use:     "signing",
					KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{X509Certificates: []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(cert.Raw)}}}},
				}},
			}}}},
		},
	}
	return func(s sample) error {
		xml, err := base64.StdEncoding.DecodeString(s.SAMLResponse)
		if err != nil {
			return err
		}
		assertion, err := sp.ParseXMLResponse(xml, []string{s.RequestID}, acs)
		if err != nil {
			var ire *saml.InvalidResponseError
			if errors.As(err, &ire) {
				return ire.PrivateErr
			}
			return err
		}
		if assertion.Subject == nil || assertion.Subject.NameID == nil || assertion.Subject.NameID.Value != in.ExpectedNameID {
			return errors.New("unexpected NameID")
		}
		return nil
	}
}

// gosaml2: RetrieveAssertionInfo checks the signatures, Destination, Issuer,
// Recipient and the bearer confirmation; audience and time problems come back
// as warnings, and InResponseTo is not checked at all: both are the caller's
// job, done here as a gosaml2 user must.
func gosaml2(in setup, cert *x509.Certificate) validator {
	sp := &saml2.SAMLServiceProvider{
		IdentityProviderIssuer:      in.IdpEntityID,
		AssertionConsumerServiceURL: in.AcsURL,
		ServiceProviderIssuer:       in.SpEntityID,
		AudienceURI:                 in.SpEntityID,
		IDPCertificateStore:         &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}},
	}
	return func(s sample) error {
		info, err := sp.RetrieveAssertionInfo(s.SAMLResponse)
		if err != nil {
			return err
		}
		if info.WarningInfo.InvalidTime {
			return errors.New("assertion outside its validity period")
		}
		if info.WarningInfo.NotInAudience {
			return errors.New("SP not in the audience")
		}
		a := info.Assertions[0]
		if a.Subject == nil || a.Subject.SubjectConfirmation == nil || a.Subject.SubjectConfirmation.SubjectConfirmationData == nil ||
			a.Subject.SubjectConfirmation.SubjectConfirmationData.InResponseTo != s.RequestID {
			return errors.New("SubjectConfirmationData InResponseTo is not the request ID")
		}
		if info.NameID != in.ExpectedNameID {
			return errors.New("unexpected NameID")
		}
		return nil
	}
}
