// Usage texts of the admin CLI, in the style of `run`'s (src/config.ts USAGE).
// Written for `sso-operator`; shown with the name the CLI was invoked by
// (`kubectl sso` as a kubectl plugin).

import { USAGE as RUN_USAGE } from '../config.ts';

const MAIN = `Usage: sso-operator <command> [flags]

  run        run the operator: standalone on a folder of manifests, or in a cluster
  check      validate manifests offline with the operator's own parsing, admission and compile checks
  crds       print the CustomResourceDefinitions (SsoConnector, UserBinding) to apply
  login-url  print the login URL of a connector
  status     list connectors as kubectl get ssoconnectors does, with their conditions that are not fine
  requests   list, approve or deny access requests (requests list|approve|deny)
  help       print the usage of a command (help <command>)

Run sso-operator <command> --help (or sso-operator help <command>) for its flags.
As a kubectl plugin (kubectl-sso on PATH) every command is kubectl sso <command>.
Exit codes: 0 ok, 1 problems found (or the command failed), 2 usage error.`;

const CHECK = `Usage: sso-operator check [flags] FILE|DIR...

Validates SsoConnector, UserBinding, Secret and ConfigMap manifests offline, with the operator's own
code: YAML parsing, the CRD schema and CEL rules, and what compiling each connector finds without the
network (missing Secret keys, invalid certificates and keys, IdP metadata documents, reference
conflicts), plus duplicate objects and bindings naming connectors that are not among the manifests.
A folder is read as run --manifests reads it (*.yaml, *.yml, *.json, recursively, no dotfiles).

  --fetch                also fetch each OIDC issuer's discovery document and each IdP metadata url
                         (5 s each) and report what fails
  --public-url URL       the operator's --public-url, for the URLs compiled (default http://localhost:8080)
  --demo-idp             include what run --demo-idp provides (the demo IdP's Secrets)
  --strict               warnings count as errors (exit 1)
  -o, --output FORMAT    json or yaml: the problems as a list (default: one line each, then a summary)
  -h, --help             print this text

Warnings (exit 0 unless --strict): a Secret, ConfigMap or binding's connector that is not among the
manifests (it may exist in the cluster), a certificate that expires within 14 days, legacy encryption
allowed. Secret values are never printed.
Exit codes: 0 no error, 1 errors found, 2 usage error.`;

const CRDS = `Usage: sso-operator crds [flags]

Prints the CustomResourceDefinitions of SsoConnector and UserBinding, generated from the resource model
built into this binary (the same text as crds/ in the repository). Install them with
  sso-operator crds | kubectl apply --server-side -f -

  -h, --help             print this text`;

const LOGIN_URL = `Usage: sso-operator login-url [flags] NAMESPACE/NAME   (or NAME with -n NAMESPACE)

Prints the address to hand users to sign in through a connector: status.loginURL of the object in the
cluster, or, with --manifests, the URL the operator would publish for the connector in that folder.

  --manifests DIR        read the connector from a folder of manifests (standalone mode)
  --public-url URL       the operator's --public-url (default http://localhost:8080, or SSO_PUBLIC_URL);
                         in a cluster used only while the object has no status.loginURL yet
  --kubeconfig FILE      cluster to read (default: KUBECONFIG, ~/.kube/config, or the in-cluster config)
  --context NAME         kubeconfig context to use (default: the current one)
  -n, --namespace NS     namespace of NAME (default: the context's namespace, or default)
  -h, --help             print this text

Exit codes: 0 printed, 1 connector not found (or its manifest refused, or the cluster unreadable), 2 usage error.`;

const STATUS = `Usage: sso-operator status [flags]

Lists connectors with the columns of kubectl get ssoconnectors, then each connector's conditions that
are not fine (not True, or True for CertificateExpiringSoon, MetadataUnsigned, LegacyEncryptionAllowed).
From a cluster: the status the operator wrote. From a folder (--manifests): compiled here as the
operator would, without the network unless --fetch (OIDC discovery and metadata urls then show Unknown).

  --manifests DIR        compile the connectors of a folder of manifests (standalone mode)
  --public-url URL       with --manifests: the operator's --public-url (default http://localhost:8080)
  --demo-idp             with --manifests: include what run --demo-idp provides (the demo IdP's Secrets)
  --fetch                with --manifests: fetch OIDC discovery and IdP metadata urls (5 s each)
  --kubeconfig FILE      cluster to read (default: KUBECONFIG, ~/.kube/config, or the in-cluster config)
  --context NAME         kubeconfig context to use (default: the current one)
  -n, --namespace NS     only this namespace (cluster default: the context's namespace, or default;
                         folder default: every namespace)
  -A, --all-namespaces   every namespace
  -o, --output FORMAT    wide (every column), json or yaml
  -h, --help             print this text

Exit codes: 0 every connector listed is Ready, 1 one is not (or the cluster is unreadable), 2 usage error.`;

const REQUESTS = `Usage: sso-operator requests list [flags]
       sso-operator requests approve [flags] NAME...
       sso-operator requests deny --reason TEXT [flags] NAME...

Access requests (connectors with spec.access.requests: Enabled) are UserBindings with approval: Pending,
named access-<connector>-<hash> and labelled sso.operator.dev/access-request=true. In a cluster they are
on the apiserver. Standalone, each is a manifest REQUESTS-DIR/NAMESPACE/NAME.yaml that takes effect only
once it is in the manifests folder the operator watches (until then the user sees Pending approval).

  list        the requests waiting: NAMESPACE, NAME, USER, CONNECTOR, APPROVAL, REQUESTED (age), REASON,
              and FILE standalone (every file still in the requests folder counts as waiting)
  approve     set approval: Approved (and reason: --reason, or none)
  deny        set approval: Denied and reason: --reason (required)

In a cluster approve and deny send a JSON merge patch of spec.approval and spec.reason, to bindings
labelled as access requests only: a binding declared in Git is never changed by this command. Standalone
they rewrite the file (its comments kept) and move it to MANIFESTS/NAMESPACE/NAME.yaml, never over an
existing file; a denial must be there too for the user to see Access denied.

  NAME                   a request as list shows it, or NAMESPACE/NAME; a user's email with --connector
  --user USER            instead of NAME: the request of USER (repeatable) at --connector
  --connector NAME       the connector (NAME or NAMESPACE/NAME) of --user: the request's name is computed
  --reason TEXT          why (spec.reason, shown in the binding's status); required for deny
  --all                  list: every approval, not only the Pending ones
  --requests-dir DIR     standalone: the operator's --requests-dir (default STATE-DIR/requests)
  --state-dir DIR        standalone: the operator's --state-dir (default .sso-operator)
  --manifests DIR        standalone: the folder the operator watches; required for approve and deny, and
                         list then also shows the requests already moved there
  --kubeconfig FILE      cluster to use (default: KUBECONFIG, ~/.kube/config, or the in-cluster config)
  --context NAME         kubeconfig context to use (default: the current one)
  -n, --namespace NS     namespace of the requests (cluster default: the context's namespace, or default;
                         standalone default: every namespace)
  -A, --all-namespaces   list: every namespace
  -o, --output FORMAT    list: json or yaml
  -h, --help             print this text

Standalone mode is chosen by --requests-dir, --state-dir or --manifests; relative folders are resolved
from the current folder, as run resolves them.
Exit codes: 0 done (list: listed), 1 a request not found, refused or not moved (or the cluster or a request
file unreadable), 2 usage error.`;

export const COMMANDS = ['run', 'check', 'crds', 'login-url', 'status', 'requests', 'help'] as const;
export type Command = (typeof COMMANDS)[number];

const TEXTS: Record<Command | 'main', string> = {
  main: MAIN,
  run: RUN_USAGE,
  check: CHECK,
  crds: CRDS,
  'login-url': LOGIN_URL,
  status: STATUS,
  requests: REQUESTS,
  help: `Usage: sso-operator help [COMMAND]\n\nPrints the usage of COMMAND (${COMMANDS.filter((c) => c !== 'help').join(', ')}), or the list of commands.`,
};

export function isCommand(name: string): name is Command {
  return (COMMANDS as readonly string[]).includes(name);
}

/** The usage text of a command (or of the CLI), with the name it was invoked by. */
export function usage(command: Command | 'main', prog: string): string {
  return TEXTS[command].replace(/\bsso-operator(?= |$)/gm, prog);
}
