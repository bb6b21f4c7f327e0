"""Validates a batch of SAML responses with python3-saml (OneLogin), for the ACS
benchmark (test/bench) and its peer test. Run with /usr/bin/python3: Debian's
python3-onelogin-saml2 (installed by tools/peers/build.sh) imports only there.

Input (stdin, JSON) and output (stdout, JSON) as tools/peers/saml-go: the IdP
certificate and entity ID, the SP entity ID and ACS URL, the expected NameID,
the plan (warmup, rounds) and the responses, each base64 with the AuthnRequest
ID it answers. Responses [0, warmup) are validated untimed, the rest timed (one
library: no turns to take, so rounds is only checked). Each validation is OneLogin_Saml2_Response(settings, b64)
.is_valid(request_data, request_id) in strict mode (signature, Destination,
Recipient, audience, issuer, InResponseTo, times), plus the NameID read, timed
on its own with perf_counter_ns in this process: interpreter start, imports and
JSON I/O are not in the figures. The output has one library, "python3-saml".
"""

import json
import sys
import time
from urllib.parse import urlsplit

from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings


def main():
    data = json.load(sys.stdin)
    warmup, rounds, samples = data["warmup"], data["rounds"], data["samples"]
    if warmup < 0 or rounds < 1 or warmup > len(samples):
        sys.exit(f"validate.py: bad plan: warmup {warmup}, rounds {rounds}, {len(samples)} samples")
    cert = "".join(line for line in data["idpCertPem"].splitlines() if "-----" not in line)
    settings = OneLogin_Saml2_Settings(
        {
            "strict": True,
            "sp": {
                "entityId": data["spEntityId"],
                "assertionConsumerService": {
                    "url": data["acsUrl"],
                    "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                },
            },
            "idp": {
                "entityId": data["idpEntityId"],
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
    # The request as the ACS received it: Destination and Recipient are checked against this URL.
    acs = urlsplit(data["acsUrl"])
    request_data = {
        "https": "on" if acs.scheme == "https" else "off",
        "http_host": acs.hostname,
        "server_port": acs.port or (443 if acs.scheme == "https" else 80),
        "script_name": acs.path,
    }
    expected = data["expectedNameId"]
    result = {"accepted": [False] * len(samples), "timingsUs": [], "failures": 0, "errors": []}

    def call(i, timed):
        s = samples[i]
        error = None
        t0 = time.perf_counter_ns()
        try:
            response = OneLogin_Saml2_Response(settings, s["samlResponse"])
            if not response.is_valid(request_data, s["requestId"]):
                error = response.get_error()
            elif response.get_nameid() != expected:
                error = "unexpected NameID"
        except Exception as exc:  # a malformed response raises instead of returning False
            error = f"{type(exc).__name__}: {exc}"
        t1 = time.perf_counter_ns()
        if timed:
            result["timingsUs"].append((t1 - t0) / 1000)
        result["accepted"][i] = error is None
        if error is not None:
            result["failures"] += 1
            if len(result["errors"]) < 3:
                result["errors"].append(f"response {i}: {error}")

    for i in range(warmup):
        call(i, False)
    for i in range(warmup, len(samples)):
        call(i, True)
    json.dump({"python3-saml": result}, sys.stdout)


if __name__ == "__main__":
    main()
