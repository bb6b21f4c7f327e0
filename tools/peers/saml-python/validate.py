"""Validates SAML responses with python3-saml (OneLogin), for the ACS benchmark
(test/bench) and its peer test; driven by test/support/saml-peers.ts. Run with
/usr/bin/python3: Debian's python3-onelogin-saml2 (installed by
tools/peers/build.sh) imports only there.

The protocol of tools/peers/saml-go, one JSON document per line: a setup line
(the IdP certificate and entity ID, the SP entity ID and ACS URL, the expected
NameID and the responses, each base64 with the AuthnRequest ID it answers),
then one request per segment ({"library": "python3-saml", "from", "to"}), each
answered on one stdout line. Each validation is
OneLogin_Saml2_Response(settings, b64).is_valid(request_data, request_id) in
strict mode (signature, Destination, Recipient, audience, issuer,
InResponseTo, times) plus the NameID read, timed on its own with
perf_counter_ns here: interpreter start, imports and JSON I/O are not in the
figures.
"""

import json
import sys
import time
from urllib.parse import urlsplit

from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings


def settings_of(setup):
    cert = "".join(line for line in setup["idpCertPem"].splitlines() if "-----" not in line)
    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "sp": {
                "entityId": setup["spEntityId"],
                "assertionConsumerService": {
                    "url": setup["acsUrl"],
                    "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                },
            },
            "idp": {
                "entityId": setup["idpEntityId"],
                "singleSignOnService": {
                    "url": "https://idp.example.test/sso",
                    "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
                },
                "x509cert": cert,
            },
            "security": {"wantAssertionsSigned": True, "wantMessagesSigned": False},
        },
        sp_validation_only=True,
    )


def main():
    setup = json.loads(sys.stdin.readline() or "null")
    if setup is None:
        sys.exit("validate.py: no setup line on stdin")
    settings = settings_of(setup)
    samples, expected = setup["samples"], setup["expectedNameId"]
    # The request as the ACS received it: Destination and Recipient are checked against this URL.
    acs = urlsplit(setup["acsUrl"])
    request_data = {
        "https": "on" if acs.scheme == "https" else "off",
        "http_host": acs.hostname,
        "server_port": acs.port or (443 if acs.scheme == "https" else 80),
        "script_name": acs.path,
    }

    def validate(s):
        try:
            response = OneLogin_Saml2_Response(settings, s["samlResponse"])
            if not response.is_valid(request_data, s["requestId"]):
                return response.get_error()
            if response.get_nameid() != expected:
                return "unexpected NameID"
            return None
        except Exception as exc:  # a malformed response raises instead of returning False
            return f"{type(exc).__name__}: {exc}"

    for line in sys.stdin:
        req = json.loads(line)
        lo, hi = req.get("from", -1), req.get("to", -1)
        answer = {"accepted": [], "timingsUs": [], "errors": []}
        if req.get("library") != "python3-saml":
            answer["error"] = f"unknown library {req.get('library')!r} (python3-saml)"
        elif not 0 <= lo <= hi <= len(samples):
            answer["error"] = f"bad range [{lo}, {hi}) of {len(samples)} responses"
        else:
            for i in range(lo, hi):
                t0 = time.perf_counter_ns()
                error = validate(samples[i])
                t1 = time.perf_counter_ns()
                answer["timingsUs"].append((t1 - t0) / 1000)
                answer["accepted"].append(error is None)
                if error is not None and len(answer["errors"]) < 3:
                    answer["errors"].append(f"response {i}: {error}")
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
