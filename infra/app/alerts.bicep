// Azure Monitor alerting: an action group (e-mail) and one scheduled query rule per definition in
// alert-rules.json. That file is the only definition of each rule (event or table, filters, aggregation,
// window, threshold, severity, runbook); this file only turns a definition into a rule and holds no event
// name, field, query text, window or threshold of its own (test/infra/bicep.test.ts checks that, and
// test/functions/alert-replay.test.ts evaluates the same definitions against days of replayed telemetry).
//
// Rows come from the rotator's own telemetry, exported by the Function App's worker with OpenTelemetry
// (src/telemetry/azure.ts) to Application Insights as customEvents: the alert events KeyRotationFailed,
// KeySyncDrift and KeyExpiring (one row per state change: firing, reminder, resolved; the rotator
// deduplicates and resolves only on evidence, docs/runbooks/alerts.md) and the timers' RotatorHeartbeat
// (one row per tick, src/functions/heartbeat.ts). The Key Vault rule reads the vault's AuditEvent log in the
// Log Analytics workspace (AZKVAuditLogs, core/security/keyvault.bicep).
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
@description('The Log Analytics workspace that receives the Key Vault AuditEvent log (rules on Key Vault audit events run there).')
param logAnalyticsWorkspaceId string
@description('Object (principal) id of the rotator\'s managed identity: its own Key Vault writes do not alert.')
param rotatorPrincipalId string
@description('Prefix for rule names, e.g. the Function App name.')
param namePrefix string

@description('Hours between two runs of the rotation timer (ROTATION_SCHEDULE). Windows defined in rotation intervals (the dead-man rule\'s) scale with it. Log alert windows are at most 2 days.')
@minValue(1)
@maxValue(16)
param rotationIntervalHours int

@description('Optional base URL of docs/runbooks (e.g. https://github.com/<org>/<repo>/blob/main/docs/runbooks); added to each alert as a custom property.')
param runbookBaseUrl string = ''

var definitions = loadJsonContent('alert-rules.json')

// The scope a source's rows are queried in.
var scopes = {
  applicationInsights: applicationInsightsId
  logAnalytics: logAnalyticsWorkspaceId
}

// What each definition's query template placeholders stand for, from the definition and its source.
var placeholders = map(definitions.rules, d => {
  table: definitions.sources[d.source].table
  eventColumn: definitions.sources[d.source].event
  timeColumn: definitions.sources[d.source].time
  event: d.event
  extend: join(map(items(definitions.sources[d.source].fields), f => '${f.key} = tostring(${f.value})'), ', ')
  where: join(map(d.where, w => '${w.field} ${definitions.operators[w.op]} (dynamic(${string(w.values)}))'), ' and ')
  by: join(d.aggregation.by, ', ')
  field: d.aggregation.field
  values: string(d.aggregation.values)
  window: d.window.rotationIntervals > 0 ? '${d.window.rotationIntervals * rotationIntervalHours}h' : '${d.window.minutes}m'
})

// Each definition as a rule. The query is its aggregation kind's template with the placeholders filled,
// the rotator's identity last (definitions name it in filter values). map() rather than a for-expression,
// so that no lambda refers to a loop variable.
var rules = map(range(0, length(definitions.rules)), i => {
  key: definitions.rules[i].key
  displayName: definitions.rules[i].displayName
  description: definitions.rules[i].description
  severity: definitions.rules[i].severity
  runbook: definitions.rules[i].runbook
  scope: scopes[definitions.sources[definitions.rules[i].source].scope]
  query: replace(reduce(items(placeholders[i]), definitions.queries[definitions.rules[i].aggregation.kind], (query, p) => replace(query, '{${p.key}}', p.value)), '{rotatorPrincipalId}', rotatorPrincipalId)
  operator: definitions.rules[i].operator
  threshold: definitions.rules[i].threshold
  dimensions: map(definitions.rules[i].splitBy, column => { name: column, operator: 'Include', values: ['*'] })
  evaluationFrequency: 'PT${definitions.rules[i].everyMinutes}M'
  windowSize: definitions.rules[i].window.rotationIntervals > 0 ? 'PT${definitions.rules[i].window.rotationIntervals * rotationIntervalHours}H' : 'PT${definitions.rules[i].window.minutes}M'
  // The query's range when it must exceed the window (rules of kind LogAlert,
  // https://learn.microsoft.com/rest/api/monitor/scheduled-query-rules).
  queryTimeRange: definitions.rules[i].lookbackHours > 0 ? 'PT${definitions.rules[i].lookbackHours}H' : null
})

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
      scopes: [r.scope]
      evaluationFrequency: r.evaluationFrequency
      windowSize: r.windowSize
      overrideQueryTimeRange: r.queryTimeRange
      criteria: {
        allOf: [
          {
            query: r.query
            // Each result row counts once: a rule fires while its query returns rows beyond the threshold.
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
        customProperties: empty(runbookBaseUrl) ? {} : { runbook: '${runbookBaseUrl}/${r.runbook}' }
      }
    }
  }
]

output actionGroupId string = actionGroup.id
output ruleNames array = [for (r, i) in rules: rule[i].name]
