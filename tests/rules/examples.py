"""The three rule files of rules.md §14, verbatim, and the names they refer to."""

from __future__ import annotations

GUARDRAILS = """\
rules:
  - name: block-spam
    priority: 1
    description: Drop spam outright
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress, reason: "spam is never sent"}

  - name: deny-untagged-prod
    priority: 2
    condition:
      all:
        - {field: action.namespace, eq: prod}
        - {field: action.metadata.owner, exists: false}
    action: {type: deny, reason: "prod actions need an owner label"}

  - name: allow-healthchecks
    priority: 3
    condition: {field: action.metadata.source, in_list: [ci, healthcheck]}
    action: {type: allow}                  # terminal: later rules never see these actions

  - name: dedup-welcome
    priority: 10
    condition:
      all:
        - {field: action.action_type, eq: send_email}
        - {field: action.payload.to, matches: "@example\\\\.com$"}   # absent `to` -> false, no error
    action: {type: deduplicate, ttl_seconds: 300}

  - name: throttle-per-recipient
    priority: 20
    condition:
      any:
        - {field: action.metadata.severity, eq: "critical"}
        - {field: action.action_type, starts_with: "alert_"}
    action:
      type: throttle
      max_count: 10
      window_seconds: 60
      key_fields: [payload.to]             # one window per recipient
"""

WORKFLOW = """\
rules:
  - name: add-tracking                     # not terminal: the rules below see the patched payload
    priority: -10
    condition: {field: action.provider, eq: email}
    action:
      type: modify
      changes: {tracking_enabled: true, source: tidegate, internal_note: null}   # null deletes

  - name: approve-large-refunds
    priority: 5
    condition:
      all:
        - {field: action.action_type, eq: process_refund}
        - {field: action.payload.amount, gt: 1000}    # absent or non-numeric amount -> false
    action:
      type: request_approval
      notify_provider: slack
      timeout_seconds: 3600
      message: "Refund over 1000 requires manager approval"

  - name: group-cluster-alerts
    priority: 30
    condition: {field: action.action_type, starts_with: cluster_}
    action:
      type: group
      group_by: [metadata.cluster, metadata.severity]
      group_wait_seconds: 60
      group_interval_seconds: 300
      repeat_interval_seconds: 3600
      max_group_size: 50
      notify_provider: slack

  - name: alert-lifecycle
    priority: 40
    condition: {field: action.action_type, eq: alert}
    action: {type: state_machine, state_machine: alert, fingerprint_fields: [metadata.cluster, payload.check]}

  - name: research-pipeline
    priority: 50
    enabled: false                         # can be switched on at runtime (§11)
    condition: {field: action.action_type, eq: research}
    action: {type: chain, chain: search-summarize-email}
"""

TIME_AND_MEANING = """\
rules:
  - name: quiet-hours-eastern
    priority: 1
    timezone: US/Eastern
    condition:
      all:
        - {field: action.action_type, eq: send_sms}
        - any:
            - {field: time.weekday_num, gt: 5}          # Saturday, Sunday
            - {field: time.hour, lt: 9}
            - {field: time.hour, gte: 17}
        - not: {field: action.metadata.priority, eq: high}
    action: {type: suppress}

  - name: page-on-outage
    priority: 15
    condition:
      all:
        - {field: action.payload.severity, in_list: [critical, 1]}
        - semantic_match: "Infrastructure outage, servers down"
          threshold: 0.75
          text_field: action.payload.description
    action: {type: reroute, target_provider: pagerduty}

  - name: first-recipient-vip
    priority: 25
    condition: {field: action.payload.recipients.0.email, ends_with: "@vip.example.com"}
    action: {type: reroute, target_provider: sms}
"""

FILES = {
    "10-guardrails.yaml": GUARDRAILS,
    "20-workflow.yaml": WORKFLOW,
    "30-time-and-meaning.yaml": TIME_AND_MEANING,
}
PROVIDERS = frozenset({"email", "sms", "slack", "pagerduty"})
CHAINS = frozenset({"search-summarize-email"})
STATE_MACHINES = frozenset({"alert"})
