# Kafka on Confluent Cloud, as the original: SASL_SSL with PLAIN API keys.
#   manager  service account with CloudClusterAdmin: terraform's own key, creates the topics
#            and ACLs (the Cloud API key in the provider block cannot do that itself)
#   app      kos-processor and kos-datagen: read/write the game topics, the consumer group
#   adapter  kos-adapter: read-only (describe cluster, groups, topics; read topics for the
#            timestamps behind kafka_consumergroup_lag_seconds)

provider "confluent" {
  cloud_api_key    = var.confluent_cloud_api_key
  cloud_api_secret = var.confluent_cloud_api_secret
}

locals {
  consumer_group = "KINGOFSCALING-APP"   # the processor's group id (kos-processor default)
  heads_group    = "__kos-adapter-heads" # kos-adapter's assign()-only reader of head records
  bootstrap      = trimprefix(confluent_kafka_cluster.kos.bootstrap_endpoint, "SASL_SSL://")
}

resource "confluent_environment" "kos" {
  display_name = var.confluent_environment_name

  stream_governance {
    package = "ESSENTIALS"
  }
}

resource "confluent_kafka_cluster" "kos" {
  display_name = var.kafka_cluster_name
  availability = "SINGLE_ZONE"
  cloud        = "GCP"
  region       = var.kafka_region
  basic {}

  environment {
    id = confluent_environment.kos.id
  }
}

# ---- manager: terraform's Kafka API key --------------------------------------------------------

resource "confluent_service_account" "manager" {
  display_name = "${var.kafka_cluster_name}-manager"
  description  = "Terraform: manages topics and ACLs of the kos Kafka cluster"
}

resource "confluent_role_binding" "manager_cluster_admin" {
  principal   = "User:${confluent_service_account.manager.id}"
  role_name   = "CloudClusterAdmin"
  crn_pattern = confluent_kafka_cluster.kos.rbac_crn
}

resource "confluent_api_key" "manager" {
  display_name = "${var.kafka_cluster_name}-manager"
  description  = "Kafka API key of the kos manager service account (terraform)"

  owner {
    id          = confluent_service_account.manager.id
    api_version = confluent_service_account.manager.api_version
    kind        = confluent_service_account.manager.kind
  }

  managed_resource {
    id          = confluent_kafka_cluster.kos.id
    api_version = confluent_kafka_cluster.kos.api_version
    kind        = confluent_kafka_cluster.kos.kind

    environment {
      id = confluent_environment.kos.id
    }
  }

  # The role binding must exist before the key creates topics and ACLs.
  depends_on = [confluent_role_binding.manager_cluster_admin]
}

# ---- topics ------------------------------------------------------------------------------------

# The two input topics are CO-PARTITIONED: both take their partition count from the one
# variable input_topic_partitions (tests/e2e/test_manifests.py checks it). The processor's
# stream-stream join pairs a request with its response by key; that only works when equal keys
# land on equal partition numbers in both topics.
resource "confluent_kafka_topic" "game_frame_rq" {
  kafka_cluster {
    id = confluent_kafka_cluster.kos.id
  }
  topic_name       = "GAME-FRAME-RQ"
  partitions_count = var.input_topic_partitions
  rest_endpoint    = confluent_kafka_cluster.kos.rest_endpoint
  config = {
    "retention.ms" = tostring(var.topic_retention_ms)
  }

  credentials {
    key    = confluent_api_key.manager.id
    secret = confluent_api_key.manager.secret
  }
}

resource "confluent_kafka_topic" "game_frame_rs" {
  kafka_cluster {
    id = confluent_kafka_cluster.kos.id
  }
  topic_name       = "GAME-FRAME-RS"
  partitions_count = var.input_topic_partitions
  rest_endpoint    = confluent_kafka_cluster.kos.rest_endpoint
  config = {
    "retention.ms" = tostring(var.topic_retention_ms)
  }

  credentials {
    key    = confluent_api_key.manager.id
    secret = confluent_api_key.manager.secret
  }
}

resource "confluent_kafka_topic" "sessions" {
  kafka_cluster {
    id = confluent_kafka_cluster.kos.id
  }
  topic_name       = "SESSIONS"
  partitions_count = var.sessions_topic_partitions
  rest_endpoint    = confluent_kafka_cluster.kos.rest_endpoint
  config = {
    "retention.ms" = tostring(var.topic_retention_ms)
  }

  credentials {
    key    = confluent_api_key.manager.id
    secret = confluent_api_key.manager.secret
  }
}

# ---- workload principals -----------------------------------------------------------------------

resource "confluent_service_account" "app" {
  display_name = "${var.kafka_cluster_name}-app"
  description  = "kos-processor and kos-datagen"
}

resource "confluent_api_key" "app" {
  display_name = "${var.kafka_cluster_name}-app"
  description  = "Kafka API key of kos-processor and kos-datagen"

  owner {
    id          = confluent_service_account.app.id
    api_version = confluent_service_account.app.api_version
    kind        = confluent_service_account.app.kind
  }

  managed_resource {
    id          = confluent_kafka_cluster.kos.id
    api_version = confluent_kafka_cluster.kos.api_version
    kind        = confluent_kafka_cluster.kos.kind

    environment {
      id = confluent_environment.kos.id
    }
  }
}

resource "confluent_service_account" "adapter" {
  display_name = "${var.kafka_cluster_name}-adapter"
  description  = "kos-adapter (read-only)"
}

resource "confluent_api_key" "adapter" {
  display_name = "${var.kafka_cluster_name}-adapter"
  description  = "Kafka API key of kos-adapter"

  owner {
    id          = confluent_service_account.adapter.id
    api_version = confluent_service_account.adapter.api_version
    kind        = confluent_service_account.adapter.kind
  }

  managed_resource {
    id          = confluent_kafka_cluster.kos.id
    api_version = confluent_kafka_cluster.kos.api_version
    kind        = confluent_kafka_cluster.kos.kind

    environment {
      id = confluent_environment.kos.id
    }
  }
}

# ---- ACLs --------------------------------------------------------------------------------------

locals {
  kafka_acls = {
    # kos-datagen: produce both input topics (and check they exist).
    "app-write-game-frames"    = { principal = "app", resource_type = "TOPIC", resource_name = "GAME-FRAME-", pattern_type = "PREFIXED", operation = "WRITE" }
    "app-describe-game-frames" = { principal = "app", resource_type = "TOPIC", resource_name = "GAME-FRAME-", pattern_type = "PREFIXED", operation = "DESCRIBE" }
    # kos-processor: consume the inputs as group KINGOFSCALING-APP, produce SESSIONS.
    "app-read-game-frames"  = { principal = "app", resource_type = "TOPIC", resource_name = "GAME-FRAME-", pattern_type = "PREFIXED", operation = "READ" }
    "app-read-group"        = { principal = "app", resource_type = "GROUP", resource_name = local.consumer_group, pattern_type = "LITERAL", operation = "READ" }
    "app-write-sessions"    = { principal = "app", resource_type = "TOPIC", resource_name = "SESSIONS", pattern_type = "LITERAL", operation = "WRITE" }
    "app-describe-sessions" = { principal = "app", resource_type = "TOPIC", resource_name = "SESSIONS", pattern_type = "LITERAL", operation = "DESCRIBE" }
    # kos-processor --exactly-once: transactional.id "kos-processor-<group>-<pod>"; and
    # idempotent producers (enable.idempotence=true in kos-processor).
    "app-write-txn-ids"    = { principal = "app", resource_type = "TRANSACTIONAL_ID", resource_name = "kos-processor-", pattern_type = "PREFIXED", operation = "WRITE" }
    "app-describe-txn-ids" = { principal = "app", resource_type = "TRANSACTIONAL_ID", resource_name = "kos-processor-", pattern_type = "PREFIXED", operation = "DESCRIBE" }
    "app-idempotent-write" = { principal = "app", resource_type = "CLUSTER", resource_name = "kafka-cluster", pattern_type = "LITERAL", operation = "IDEMPOTENT_WRITE" }
    # kos-adapter: list and describe every group and its offsets, end offsets of every topic,
    # read head records (assign() under its own group id, never committing).
    "adapter-describe-cluster" = { principal = "adapter", resource_type = "CLUSTER", resource_name = "kafka-cluster", pattern_type = "LITERAL", operation = "DESCRIBE" }
    "adapter-describe-groups"  = { principal = "adapter", resource_type = "GROUP", resource_name = "*", pattern_type = "LITERAL", operation = "DESCRIBE" }
    "adapter-describe-topics"  = { principal = "adapter", resource_type = "TOPIC", resource_name = "*", pattern_type = "LITERAL", operation = "DESCRIBE" }
    "adapter-read-topics"      = { principal = "adapter", resource_type = "TOPIC", resource_name = "*", pattern_type = "LITERAL", operation = "READ" }
    "adapter-read-heads-group" = { principal = "adapter", resource_type = "GROUP", resource_name = local.heads_group, pattern_type = "LITERAL", operation = "READ" }
  }

  acl_principals = {
    app     = confluent_service_account.app.id
    adapter = confluent_service_account.adapter.id
  }
}

resource "confluent_kafka_acl" "kos" {
  for_each = local.kafka_acls

  kafka_cluster {
    id = confluent_kafka_cluster.kos.id
  }
  resource_type = each.value.resource_type
  resource_name = each.value.resource_name
  pattern_type  = each.value.pattern_type
  principal     = "User:${local.acl_principals[each.value.principal]}"
  host          = "*"
  operation     = each.value.operation
  permission    = "ALLOW"
  rest_endpoint = confluent_kafka_cluster.kos.rest_endpoint

  credentials {
    key    = confluent_api_key.manager.id
    secret = confluent_api_key.manager.secret
  }
}
