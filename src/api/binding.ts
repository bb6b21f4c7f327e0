// UserBinding: a user's access through one or more connectors (DESIGN.md section 1).

import { Type, type Static } from '@sinclair/typebox';
import { Conditions, Dns1123Subdomain, GROUP_VERSION, ObjectMeta, StringEnum } from './common.ts';

export const UserBindingSpec = Type.Object(
  {
    user: Type.String({
      description:
        'The identity the IdP asserts; compared case-insensitively when it is an email address, exactly otherwise (never trimmed).',
      minLength: 1,
      maxLength: 1024,
    }),
    connectors: Type.Array(Dns1123Subdomain('Name of an SsoConnector.'), {
      description: 'SsoConnector names in the same namespace this user may sign in through.',
      minItems: 1,
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
    }),
    groups: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
        description: 'Groups handed to applications.',
        maxItems: 256,
        'x-kubernetes-list-type': 'set',
      }),
    ),
    approval: Type.Optional(
      StringEnum(['Approved', 'Pending', 'Denied'] as const, {
        description: 'Approved (default), Pending (an access request awaiting an admin) or Denied.',
        default: 'Approved',
      }),
    ),
    reason: Type.Optional(
      Type.String({ description: 'Why an administrator approved or denied the access (shown in the status, not to the user).', minLength: 1, maxLength: 1024 }),
    ),
  },
  { additionalProperties: false, description: 'Desired state of the binding.' },
);
export type UserBindingSpec = Static<typeof UserBindingSpec>;

export const UserBindingStatus = Type.Object(
  {
    phase: Type.Optional(
      StringEnum(['Active', 'PendingApproval', 'Denied', 'Invalid'] as const, {
        description: 'Active, PendingApproval, Denied or Invalid.',
      }),
    ),
    conditions: Type.Optional(Conditions),
    observedGeneration: Type.Optional(
      Type.Integer({ description: 'The .metadata.generation this status reflects.', format: 'int64', minimum: 0 }),
    ),
  },
  { additionalProperties: false, description: 'Observed state of the binding.' },
);
export type UserBindingStatus = Static<typeof UserBindingStatus>;

export const UserBinding = Type.Object(
  {
    apiVersion: Type.Literal(GROUP_VERSION),
    kind: Type.Literal('UserBinding'),
    metadata: ObjectMeta,
    spec: UserBindingSpec,
    status: Type.Optional(UserBindingStatus),
  },
  { additionalProperties: false },
);
export type UserBinding = Static<typeof UserBinding>;
