// saml-go validates a batch of SAML responses with two Go service-provider
// libraries, github.com/crewjam/saml and github.com/russellhaering/gosaml2, for
// the ACS benchmark (test/bench) and its peer test. Built by tools/peers/build.sh.
//
// Input (stdin, JSON): the IdP certificate and entity ID, the SP entity ID and
// ACS URL, the expected NameID, the plan (warmup, rounds) and the responses, each
// base64 with the AuthnRequest ID it answers. Per library, responses [0, warmup)
// are validated untimed, the rest in `rounds` segments, the libraries taking
// turns segment by segment (as the Node subjects do). Each validation is timed
// on its own, in this process, on one goroutine (run it with GOMAXPROCS=1):
// process start and JSON I/O are not in the figures.
//
// Output (stdout, JSON): per library, whether each response was accepted, the
// timings (µs) of the timed ones and the first error messages. A refusal is a
// failure; the caller decides what it means (the bench expects none, the peer
// test expects tampered responses refused).
package main

import (
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

type input struct {
	IdpCertPem     string   `json:"idpCertPem"`
	IdpEntityID    string   `json:"idpEntityId"`
	SpEntityID     string   `json:"spEntityId"`
	AcsURL         string   `json:"acsUrl"`
	ExpectedNameID string   `json:"expectedNameId"`
	Libraries      []string `json:"libraries"`
	Warmup         int      `json:"warmup"`
	Rounds         int      `json:"rounds"`
	Samples        []sample `json:"samples"`
}

type result struct {
	Accepted  []bool    `json:"accepted"`
	TimingsUs []float64 `json:"timingsUs"`
	Failures  int       `json:"failures"`
	Errors    []string  `json:"errors"`
}

type validator func(s sample) error

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "saml-go:", err)
		os.Exit(2)
	}
}

func run() error {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		return fmt.Errorf("reading the input JSON: %w", err)
	}
	block, _ := pem.Decode([]byte(in.IdpCertPem))
	if block == nil {
		return errors.New("idpCertPem holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("idpCertPem: %w", err)
	}
	acs, err := url.Parse(in.AcsURL)
	if err != nil {
		return fmt.Errorf("acsUrl: %w", err)
	}
	if in.Warmup < 0 || in.Rounds < 1 || in.Warmup > len(in.Samples) {
		return fmt.Errorf("bad plan: warmup %d, rounds %d, %d samples", in.Warmup, in.Rounds, len(in.Samples))
	}

	validators := map[string]validator{}
	for _, lib := range in.Libraries {
		switch lib {
		case "crewjam":
			validators[lib] = crewjam(in, cert, *acs)
		case "gosaml2":
			validators[lib] = gosaml2(in, cert)
		default:
			return fmt.Errorf("unknown library %q (crewjam, gosaml2)", lib)
		}
	}

	results := map[string]*result{}
	for _, lib := range in.Libraries {
		results[lib] = &result{Accepted: make([]bool, len(in.Samples)), TimingsUs: []float64{}, Errors: []string{}}
	}
	call := func(lib string, i int, timed bool) {
		r := results[lib]
		t0 := time.Now()
		err := validators[lib](in.Samples[i])
		us := float64(time.Since(t0).Nanoseconds()) / 1000
		if timed {
			r.TimingsUs = append(r.TimingsUs, us)
		}
		r.Accepted[i] = err == nil
		if err != nil {
			r.Failures++
			if len(r.Errors) < 3 {
				r.Errors = append(r.Errors, fmt.Sprintf("response %d: %v", i, err))
			}
		}
	}

	for _, lib := range in.Libraries {
		for i := 0; i < in.Warmup; i++ {
			call(lib, i, false)
		}
	}
	timed := len(in.Samples) - in.Warmup
	per := (timed + in.Rounds - 1) / in.Rounds
	for round := 0; round < in.Rounds; round++ {
		from := in.Warmup + round*per
		to := min(from+per, len(in.Samples))
		for k := range in.Libraries {
			lib := in.Libraries[(round+k)%len(in.Libraries)]
			for i := from; i < to; i++ {
				call(lib, i, true)
			}
		}
	}
	return json.NewEncoder(os.Stdout).Encode(results)
}

// crewjam: ServiceProvider.ParseXMLResponse checks the signatures (Response if
// signed, else each Assertion must be), Destination, Issuer, InResponseTo
// against the possible request IDs, audience, Recipient, and the times.
func crewjam(in input, cert *x509.Certificate, acs url.URL) validator {
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
func gosaml2(in input, cert *x509.Certificate) validator {
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
