// Regenerates backup.jsonl with the real Powertools for AWS Lambda (TypeScript) Metrics utility, so the
// equivalence test compares our output with what Powertools itself prints, not with a hand-written guess.
//
//   cd "$(mktemp -d)" && npm install @aws-lambda-powertools/metrics@2.36.0 && \
//     NODE_PATH=$PWD/node_modules node /path/to/generate.mjs 2>/dev/null > /path/to/backup.jsonl
//
// (Powertools warns on stderr that the fixed 2023 timestamp is outside CloudWatch's window; the test pins its clock.)
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.NODE_PATH ?? process.cwd(), 'noop.js'));
const { Metrics, MetricUnit } = require('@aws-lambda-powertools/metrics');

const metrics = new Metrics({ namespace: 'K8sCluster/EtcdBackup' });
// Powertools adds a "service" default dimension; cpwarden's contract is [ClusterName] and [ClusterName, FunctionName].
metrics.clearDefaultDimensions();
metrics.setTimestamp(1700000000000);
metrics.addDimension('ClusterName', 'prod');
metrics.addDimensions({ ClusterName: 'prod', FunctionName: 'cpwarden-backup' });
metrics.addMetadata('requestId', 'c6af9ac6-7b61-11e6-9a41-93e812345678');
metrics.addMetadata('xrayTraceId', '1-5759e988-bd862e3fe1be46a994272793');
metrics.addMetric('BackupSuccess', MetricUnit.Count, 1);
metrics.addMetric('BackupDuration', MetricUnit.Milliseconds, 1234.5);
metrics.addMetric('BackupSizeBytes', MetricUnit.Bytes, 52428800);
process.stdout.write(JSON.stringify(metrics.serializeMetrics()) + '\n');
