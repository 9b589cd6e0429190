// Azure Monitor alerting on the rotator's own telemetry: custom events and custom metrics that the
// Function App's worker exports itself with OpenTelemetry (src/telemetry/azure.ts, Azure Monitor
// exporters, authenticated with the managed identity), not console lines the host may or may not forward.
//
// - customEvents, one row per alert state change (src/adapters/alerts/log-sink.ts through
//   src/log/otel.ts, which marks the event with microsoft.custom_event.name): name = KeyRotationFailed |
//   KeySyncDrift | KeyExpiring, customDimensions.status = firing | reminder | resolved, plus credential,
//   target, phase, code, message, hint. The rotator deduplicates (state in blob storage): one `firing` on
//   the transition to failing, a `reminder` every alerts.remindEvery while it persists, one `resolved` only
//   on evidence of recovery (docs/runbooks/alerts.md). A rule fires while a condition's latest row is
//   firing/reminder and, being stateful (autoMitigate), resolves when its latest row is `resolved`: it
//   looks back alertLookback, which must exceed alerts.remindEvery, so a condition that stays firing always
//   has a row in range.
// - customMetrics `rotator.rotations` (src/telemetry/metrics.ts), a counter exported as deltas (one row per
//   export interval in which runs happened) with customDimensions.outcome = ok | noop | failed | stuck |
//   planned. The dead-man switch fires when no successful run (ok or noop) arrived within 3x the rotation
//   schedule: the timer is not running, cannot load its configuration, or crashes before finishing.
//
// Runbooks: docs/runbooks/*.md (linked from each rule when runbookBaseUrl is set).
param location string = resourceGroup().location
param tags object = {}

param actionGroupName string
@description('Short name shown in SMS/e-mail (at most 12 characters).')
@maxLength(12)
param actionGroupShortName string = 'keyrotator'
@description('E-mail address that receives the alerts.')
param alertEmail string

param applicationInsightsId string
@description('Prefix for rule names, e.g. the Function App name.')
param namePrefix string

@description('Hours between two runs of the rotation timer (ROTATION_SCHEDULE). The dead-man window is 3x this. Log alert windows are at most 2 days.')
@minValue(1)
@maxValue(16)
param rotationIntervalHours int

@description('Optional base URL of docs/runbooks (e.g. https://github.com/<org>/<repo>/blob/main/docs/runbooks); added to each alert as a custom property.')
param runbookBaseUrl string = ''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: actionGroupShortName
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// One query for the three alert events; __EVENT__ is replaced per rule. Multi-line strings take no
// interpolation, hence replace(). A condition is (event, credential, target) and its state is its latest
// row, so the rule counts the conditions whose latest row is firing or reminder. The rotator already
// deduplicated, so each row is a state change or a reminder.
var alertEventQuery = '''
customEvents
| where name == "__EVENT__"
| extend credential = tostring(customDimensions.credential), target = tostring(customDimensions.target), status = tostring(customDimensions.status)
| where status in ("firing", "reminder", "resolved")
| summarize arg_max(timestamp, *) by credential, target
| where status in ("firing", "reminder")
| project timestamp, credential, target, phase = tostring(customDimensions.phase), code = tostring(customDimensions.code), detail = tostring(customDimensions.message), hint = tostring(customDimensions.hint)
'''

// How far back the alert-event rules read each condition's latest row: overrideQueryTimeRange replaces
// the query range (default windowSize x evaluation periods) for rules of kind LogAlert
// (https://learn.microsoft.com/rest/api/monitor/scheduled-query-rules). It must exceed
// alerts.remindEvery (default PT4H), else a condition still firing would fall out of range and resolve.
var alertLookback = 'P2D'

// Successful runs (ok: steps ran; noop: nothing was due). Dry runs (planned) do not count. Each row is one
// export interval's count (valueSum) of runs with that outcome.
var successfulRunQuery = '''
customMetrics
| where name == "rotator.rotations"
| where tostring(customDimensions.outcome) in ("ok", "noop") and valueSum > 0
| project timestamp, credential = tostring(customDimensions.credential), outcome = tostring(customDimensions.outcome), runs = valueSum
'''

var perCredential = [
  {
    name: 'credential'
    operator: 'Include'
    values: ['*']
  }
]

var rules = [
  {
    key: 'key-rotation-failed'
    displayName: 'Kong key rotation failed'
    description: 'A rotation run failed or is stuck (KeyRotationFailed). Logins keep working on the current key; the next run retries. Runbook: docs/runbooks/key-rotation-failed.md'
    severity: 1
    query: replace(alertEventQuery, '__EVENT__', 'KeyRotationFailed')
    queryTimeRange: alertLookback
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    operator: 'GreaterThan'
    threshold: 0
    dimensions: perCredential
  }
  {
    key: 'key-sync-drift'
    displayName: 'Kong key out of sync'
    description: 'A Kong target is not on the active key (and was not re-applied), or the active key is missing at Entra ID (KeySyncDrift). Runbook: docs/runbooks/key-sync-drift.md'
    severity: 1
    query: replace(alertEventQuery, '__EVENT__', 'KeySyncDrift')
    queryTimeRange: alertLookback
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    operator: 'GreaterThan'
    threshold: 0
    dimensions: perCredential
  }
  {
    key: 'key-expiring'
    displayName: 'Kong key expiring soon'
    description: 'The active key expires within alerts.expiryWarning and has not been rotated (KeyExpiring). Runbook: docs/runbooks/key-expiring.md'
    severity: 2
    query: replace(alertEventQuery, '__EVENT__', 'KeyExpiring')
    queryTimeRange: alertLookback
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    operator: 'GreaterThan'
    threshold: 0
    dimensions: perCredential
  }
  {
    key: 'rotation-dead-man'
    displayName: 'Kong key rotator not running'
    description: 'No successful rotation run (rotator.rotations with outcome ok or noop) within 3x the rotation schedule. Runbook: docs/runbooks/rotation-dead-man.md'
    severity: 1
    query: successfulRunQuery
    queryTimeRange: ''
    evaluationFrequency: 'PT30M'
    windowSize: 'PT${3 * rotationIntervalHours}H'
    // Zero rows is the condition: "fewer than one successful run in the window".
    operator: 'LessThan'
    threshold: 1
    dimensions: []
  }
]

resource rule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for r in rules: {
    name: '${namePrefix}-${r.key}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: r.displayName
      description: r.description
      severity: r.severity
      enabled: true
      scopes: [applicationInsightsId]
      evaluationFrequency: r.evaluationFrequency
      windowSize: r.windowSize
      overrideQueryTimeRange: empty(r.queryTimeRange) ? null : r.queryTimeRange
      criteria: {
        allOf: [
          {
            query: r.query
            timeAggregation: 'Count'
            operator: r.operator
            threshold: r.threshold
            dimensions: r.dimensions
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      // Stateful: one notification when the condition starts, one when it clears.
      autoMitigate: true
      actions: {
        actionGroups: [actionGroup.id]
        customProperties: empty(runbookBaseUrl) ? {} : { runbook: '${runbookBaseUrl}/${r.key}.md' }
      }
    }
  }
]

output actionGroupId string = actionGroup.id
output ruleNames array = [for (r, i) in rules: rule[i].name]
