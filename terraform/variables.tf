# ---- Google Cloud / GKE ----------------------------------------------------------------------

variable "gcp_project_id" {
  description = "Google Cloud project that holds the GKE cluster (must have the Kubernetes Engine API enabled)."
  type        = string
}

variable "gcp_region" {
  description = "Google Cloud region of the provider (the cluster itself is zonal, see gcp_zone)."
  type        = string
  default     = "europe-west1"
}

variable "gcp_zone" {
  description = "Zone of the zonal GKE cluster; the original system ran in europe-west1-b."
  type        = string
  default     = "europe-west1-b"
}

variable "cluster_name" {
  description = "Name of the GKE cluster and prefix of its node pool."
  type        = string
  default     = "kos"
}

variable "node_count" {
  description = "Number of nodes in the (fixed-size) node pool; the original cluster had 4."
  type        = number
  default     = 4

  validation {
    condition     = var.node_count >= 1
    error_message = "node_count must be at least 1."
  }
}

variable "machine_type" {
  description = "Compute Engine machine type of the nodes. 4 x e2-standard-2 holds 2 adapters, 4 processors and 4 generators with room to spare."
  type        = string
  default     = "e2-standard-2"
}

variable "node_disk_size_gb" {
  description = "Boot disk size of each node, in GB."
  type        = number
  default     = 50
}

variable "gke_release_channel" {
  description = "GKE release channel (RAPID, REGULAR, STABLE): decides the Kubernetes version and its upgrades."
  type        = string
  default     = "REGULAR"

  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.gke_release_channel)
    error_message = "gke_release_channel must be RAPID, REGULAR or STABLE."
  }
}

variable "deletion_protection" {
  description = "GKE deletion protection: true makes `terraform destroy` refuse to delete the cluster. Off by default because this is a demo cluster."
  type        = bool
  default     = false
}

# ---- Confluent Cloud / Kafka -----------------------------------------------------------------

variable "confluent_cloud_api_key" {
  description = "Confluent Cloud API key (a Cloud resource-management key, not a Kafka key). Null: the provider reads CONFLUENT_CLOUD_API_KEY from the environment."
  type        = string
  default     = null
  sensitive   = true
}

variable "confluent_cloud_api_secret" {
  description = "Secret of confluent_cloud_api_key. Null: the provider reads CONFLUENT_CLOUD_API_SECRET from the environment."
  type        = string
  default     = null
  sensitive   = true
}

variable "confluent_environment_name" {
  description = "Display name of the Confluent Cloud environment created for kos."
  type        = string
  default     = "kos"
}

variable "kafka_cluster_name" {
  description = "Display name of the Confluent Cloud Kafka cluster (Basic, single zone)."
  type        = string
  default     = "kos"
}

variable "kafka_region" {
  description = "GCP region of the Confluent Cloud Kafka cluster; the same region as the GKE cluster keeps latency and egress low."
  type        = string
  default     = "europe-west1"
}

variable "input_topic_partitions" {
  description = "Partition count of BOTH input topics, GAME-FRAME-RQ and GAME-FRAME-RS. One variable on purpose: the processor joins the two topics, which only works when they are co-partitioned (same partition count, same key hashing). It also caps useful processor replicas (a member without a partition idles)."
  type        = number
  default     = 4

  validation {
    condition     = var.input_topic_partitions >= 1 && floor(var.input_topic_partitions) == var.input_topic_partitions
    error_message = "input_topic_partitions must be a positive integer."
  }
}

variable "sessions_topic_partitions" {
  description = "Partition count of the output topic SESSIONS."
  type        = number
  default     = 4

  validation {
    condition     = var.sessions_topic_partitions >= 1 && floor(var.sessions_topic_partitions) == var.sessions_topic_partitions
    error_message = "sessions_topic_partitions must be a positive integer."
  }
}

variable "topic_retention_ms" {
  description = "retention.ms of the three topics (default one day: a demo, not an archive)."
  type        = number
  default     = 86400000
}

# ---- kos on the cluster ----------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of ghcr.io/kos-project/kos (manifests/image/Dockerfile) deployed for the adapter, processor and generator."
  type        = string
  default     = "0.1.0"
}

variable "processor_hpa" {
  description = "Processor autoscaler: \"pods\" = the original's two Pods metrics consumer_lag_game_frame_rq/_rs (target average 100000), \"external-lag\" = External kafka_consumergroup_lag with a behavior section (manifests/components/hpa-external-lag)."
  type        = string
  default     = "pods"

  validation {
    condition     = contains(["pods", "external-lag"], var.processor_hpa)
    error_message = "processor_hpa must be \"pods\" or \"external-lag\"."
  }
}

variable "wait_for_rollout" {
  description = "Wait (up to 5 minutes) for the Deployments to become ready during apply. Needs the image to be pullable and Kafka reachable."
  type        = bool
  default     = true
}
