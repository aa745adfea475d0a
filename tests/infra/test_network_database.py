"""Network (no NAT, endpoints for every AWS API) and Database (private, encrypted, rotated, fenced)."""

from __future__ import annotations

from aws_cdk.assertions import Match

from infra.stacks.database import DATABASE_NAME, OWNER_USER, READONLY_USER
from infra.stacks.network import INTERFACE_ENDPOINTS


def test_private_subnets_reach_aws_apis_through_endpoints_without_nat(synth):
    template = synth.template("network")
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.resource_count_is("AWS::EC2::Subnet", synth.config.max_azs)
    endpoints = synth.resources("network", "AWS::EC2::VPCEndpoint").values()
    gateway = [e for e in endpoints if e["Properties"].get("VpcEndpointType") in (None, "Gateway")]
    interface = [e for e in endpoints if e["Properties"].get("VpcEndpointType") == "Interface"]
    assert len(gateway) == 2  # S3 and DynamoDB
    assert len(interface) == len(INTERFACE_ENDPOINTS)
    assert all(e["Properties"]["PrivateDnsEnabled"] for e in interface)
    for sg in synth.resources("network", "AWS::EC2::SecurityGroup").values():
        for rule in sg["Properties"].get("SecurityGroupIngress", []):
            assert rule["CidrIp"] == synth.config.vpc_cidr and rule["FromPort"] == 443
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"})


def test_postgres_is_private_encrypted_and_protected(synth):
    config = synth.config
    synth.template("database").has_resource_properties("AWS::RDS::DBInstance", {
        "Engine": "postgres", "EngineVersion": Match.string_like_regexp(r"^16\."),
        "DBInstanceClass": f"db.{config.db_instance_class}", "DBInstanceIdentifier": config.db_instance_id,
        "DBName": DATABASE_NAME, "MasterUsername": OWNER_USER, "Port": str(config.db_port),
        "PubliclyAccessible": False, "StorageEncrypted": True, "MultiAZ": False,  # env=test
        "DeletionProtection": True, "EnableIAMDatabaseAuthentication": True,
        "BackupRetentionPeriod": config.db_backup_days,
        "EnableCloudwatchLogsExports": ["postgresql", "upgrade"]})
    synth.template("database").has_resource_properties("AWS::RDS::DBParameterGroup", {
        "Parameters": Match.object_like({"rds.force_ssl": "1"})})
    groups = synth.resources("database", "AWS::Logs::LogGroup").values()
    assert {g["Properties"]["RetentionInDays"] for g in groups} == {config.log_retention_days}


def test_secrets_use_the_shared_names_and_rotate(synth):
    names = synth.config.names("")
    secrets = {s["Properties"]["Name"]: s["Properties"] for s in synth.resources("database", "AWS::SecretsManager::Secret").values()}
    assert set(secrets) == {names.db_secret_id, synth.config.readonly_secret_id}
    template = str(secrets[synth.config.readonly_secret_id]["GenerateSecretString"]["SecretStringTemplate"])
    assert f'"username":"{READONLY_USER}"' in template and f'"dbname":"{DATABASE_NAME}"' in template
    schedules = synth.resources("database", "AWS::SecretsManager::RotationSchedule").values()
    assert len(schedules) == 2
    assert {s["Properties"]["RotationRules"]["ScheduleExpression"] for s in schedules} == {
        f"rate({synth.config.db_rotation_days} days)"}


def test_only_client_security_groups_reach_the_database(synth):
    db_sg = "DbSecurityGroup"
    sources = []
    for stack, template in synth.all_templates():
        for resource in template["Resources"].values():
            props = resource.get("Properties", {})
            if resource["Type"] != "AWS::EC2::SecurityGroupIngress" or db_sg not in str(props.get("GroupId")):
                continue
            assert "CidrIp" not in props and "SourceSecurityGroupId" in props, props
            sources.append((stack, props["Description"]))
    stacks = sorted(s for s, _ in sources)
    assert stacks == ["analytics", "database", "database", "orchestration"]  # + the two rotation functions
    db = synth.resources("database", "AWS::EC2::SecurityGroup")
    own = next(v for k, v in db.items() if k.startswith(db_sg))
    assert "SecurityGroupIngress" not in own["Properties"]
    assert own["Properties"]["SecurityGroupEgress"][0]["CidrIp"] == "255.255.255.255/32"  # no egress
