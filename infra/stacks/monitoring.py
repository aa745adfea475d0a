"""Monitoring: alarms to the alerts topic, one dashboard. (Log retention is set on every log group.)

Alarms (seed 000's Lambda errors/throttles, plus the hot path's and the platform's failure modes):
Lambda errors, throttles and p99 duration per function; the processor's iterator age; depth of the
uploads DLQ and of the stream-failures queue; RDS CPU; API 5XX rate; the Dagster daemon and code
server not running; and stale data: no ``PartitionLoaded`` event on the bus for ``staleAfterHours``.
Metrics are addressed by the deterministic names in ``config``, so this stack has no exports.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import InfraConfig
from infra.iam import Arns
from infra.stacks.api import STAGE

FIVE_MINUTES = Duration.minutes(5)
GE = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
GT = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
LT = cw.ComparisonOperator.LESS_THAN_THRESHOLD


def metric(namespace: str, name: str, dimensions: dict, statistic: str = "Sum",
           period: Duration = FIVE_MINUTES) -> cw.Metric:
    return cw.Metric(namespace=namespace, metric_name=name, dimensions_map=dimensions,
                     statistic=statistic, period=period)


class MonitoringStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: InfraConfig, storage: Stack | None = None, **kwargs):
        super().__init__(scope, id, **kwargs)
        if storage is not None:
            self.add_stack_dependency(storage)  # the bus and topic must exist
        self.config = config
        names = config.names(Aws.ACCOUNT_ID)
        topic = sns.Topic.from_topic_arn(self, "AlertsTopic", Arns(self).topic(names.alerts_topic))
        self.action = cw_actions.SnsAction(topic)
        self.alarms: dict[str, cw.Alarm] = {}
        widgets: list[cw.IWidget] = []

        timeouts = {"ingest": config.lambda_timeout_seconds, "stream_processor": config.lambda_timeout_seconds,
                    "analytics": config.analytics_timeout_seconds}
        for function, timeout in timeouts.items():
            dims = {"FunctionName": config.function_name(function)}
            label = function.title().replace("_", "")
            errors = metric("AWS/Lambda", "Errors", dims)
            throttles = metric("AWS/Lambda", "Throttles", dims)
            p99 = metric("AWS/Lambda", "Duration", dims, statistic="p99")
            self._alarm(f"{label}Errors", errors, 1, GE, f"{function} Lambda raised errors")
            self._alarm(f"{label}Throttles", throttles, 1, GE, f"{function} Lambda was throttled")
            self._alarm(f"{label}DurationP99", p99, timeout * 1000 * config.duration_p99_alarm_ratio, GT,
                        f"{function} p99 duration above {config.duration_p99_alarm_ratio:.0%} of its timeout",
                        periods=3)
            widgets.append(cw.GraphWidget(title=f"{function}: invocations / errors / throttles", width=8,
                                          left=[metric("AWS/Lambda", "Invocations", dims), errors, throttles],
                                          right=[p99]))

        processor = {"FunctionName": config.function_name("stream_processor")}
        iterator_age = metric("AWS/Lambda", "IteratorAge", processor, statistic="Maximum")
        self._alarm("IteratorAge", iterator_age, config.iterator_age_alarm_seconds * 1000, GT,
                    "stream processor falls behind Kinesis", periods=3)
        stream = {"StreamName": names.events_stream}
        widgets.append(cw.GraphWidget(title="Kinesis: records in / iterator age", width=8,
                                      left=[metric("AWS/Kinesis", "IncomingRecords", stream)], right=[iterator_age]))

        depth = []
        for queue, label in ((names.uploads_dlq, "UploadsDlqDepth"), (names.stream_failures_queue, "StreamFailuresDepth")):
            visible = metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue}, statistic="Maximum")
            self._alarm(label, visible, 1, GE, f"messages waiting in {queue} (`pipeline dlq list`)")
            depth.append(visible)
        uploads = metric("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": names.uploads_queue},
                         statistic="Maximum")
        widgets.append(cw.GraphWidget(title="SQS: dead letters / oldest upload notification", width=8,
                                      left=depth, right=[uploads]))

        rds_cpu = metric("AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": config.db_instance_id}, "Average")
        self._alarm("RdsCpu", rds_cpu, config.rds_cpu_alarm_percent, GT, "PostgreSQL CPU high", periods=3)
        widgets.append(cw.GraphWidget(title="RDS: CPU / connections", width=8, left=[rds_cpu], right=[metric(
            "AWS/RDS", "DatabaseConnections", {"DBInstanceIdentifier": config.db_instance_id}, "Maximum")]))

        api = {"ApiName": config.api_name, "Stage": STAGE}
        errors_5xx = metric("AWS/ApiGateway", "5XXError", api, statistic="Average")
        self._alarm("Api5xxRate", errors_5xx, 0.05, GT, "more than 5% of API requests fail with 5XX", periods=3)
        widgets.append(cw.GraphWidget(title="API: requests / 4XX / 5XX / latency", width=8, left=[
            metric("AWS/ApiGateway", "Count", api), metric("AWS/ApiGateway", "4XXError", api),
            metric("AWS/ApiGateway", "5XXError", api)], right=[metric("AWS/ApiGateway", "Latency", api, "p99")]))

        for service in ("daemon", "code-server"):
            running = metric("ECS/ContainerInsights", "RunningTaskCount",
                             {"ClusterName": config.cluster_name, "ServiceName": config.dagster_service(service)},
                             statistic="Minimum")
            self._alarm(f"Dagster{service.title().replace('-', '')}Down", running, 1, LT,
                        f"Dagster {service} is not running (schedules/sensors/runs stop)", periods=3,
                        missing=cw.TreatMissingData.BREACHING)

        bus = events.EventBus.from_event_bus_name(self, "Bus", names.event_bus)
        rule_name = f"{config.prefix}-partition-loaded"  # literal: Ref of a custom-bus rule is "bus|rule"
        events.Rule(self, "PartitionLoaded", event_bus=bus, rule_name=rule_name,
                    description="Counts PartitionLoaded events; the stale-data alarm watches it",
                    event_pattern=events.EventPattern(detail_type=["PartitionLoaded"]))
        matched = metric("AWS/Events", "MatchedEvents", {"EventBusName": names.event_bus, "RuleName": rule_name},
                         period=Duration.hours(1))
        self._alarm("StaleData", matched, 1, LT, f"no partition loaded for {config.stale_after_hours} h",
                    periods=config.stale_after_hours, missing=cw.TreatMissingData.BREACHING)
        widgets.append(cw.GraphWidget(title="Batch: partitions loaded per hour", width=8, left=[matched]))

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{config.prefix}-pipeline")
        self.dashboard.add_widgets(cw.AlarmStatusWidget(title="Alarms", width=24, alarms=list(self.alarms.values())))
        for start in range(0, len(widgets), 3):
            self.dashboard.add_widgets(*widgets[start:start + 3])

    def _alarm(self, id: str, metric: cw.Metric, threshold: float, comparison: cw.ComparisonOperator,
               description: str, periods: int = 1,
               missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING) -> cw.Alarm:
        alarm = cw.Alarm(self, id, alarm_name=f"{self.config.prefix}-{id}", metric=metric, threshold=threshold,
                         comparison_operator=comparison, evaluation_periods=periods, datapoints_to_alarm=periods,
                         treat_missing_data=missing, alarm_description=description)
        alarm.add_alarm_action(self.action)
        alarm.add_ok_action(self.action)
        self.alarms[id] = alarm
        return alarm
