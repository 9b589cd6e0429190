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

@description('Hours between two runs of the rotation timer (ROTATION_SCHEDULE). Windows defined in rotation intervals (the dead-man rule\'s) scale with it. A window must stay under the 2-day lookback of the rules: at most 15 hours.')
@minValue(1)
@maxValue(15)
param rotationIntervalHours int

@description('Optional base URL of docs/runbooks (e.g. https://github.com/<org>/<repo>/blob/main/docs/runbooks); added to each alert as a custom property.')
param runbookBaseUrl string = ''

var definitions = loadJsonContent('alert-rules.json')

// Deployment values a definition may name in braces (in filter values).
var deploymentValues = {
  rotatorPrincipalId: rotatorPrincipalId
}

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
  where: join(map(d.where, w => replace(replace(definitions.filters[w.op], '{field}', w.field), '{values}', string(w.values))), ' and ')
  by: join(d.aggregation.by, ', ')
  field: d.aggregation.field
  values: string(d.aggregation.values)
  window: d.window.rotationIntervals > 0 ? '${d.window.rotationIntervals * rotationIntervalHours}h' : '${d.window.minutes}m'
})

// Each definition as a rule. The query is its aggregation kind's template with the placeholders filled,
// then the deployment values. map() rather than a for-expression, so that no lambda refers to a loop
// variable.
var rules = map(range(0, length(definitions.rules)), i => {
  key: definitions.rules[i].key
  displayName: definitions.rules[i].displayName
  description: definitions.rules[i].description
  severity: definitions.rules[i].severity
  runbook: definitions.rules[i].runbook
  scope: scopes[definitions.sources[definitions.rules[i].source].scope]
  query: reduce(items(deploymentValues), reduce(items(placeholders[i]), definitions.queries[definitions.rules[i].aggregation.kind], (query, p) => replace(query, '{${p.key}}', p.value)), (query, v) => replace(query, '{${v.key}}', v.value))
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
