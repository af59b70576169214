output "gke_cluster_name" {
  description = "Name of the GKE cluster."
  value       = google_container_cluster.kos.name
}

output "gke_zone" {
  description = "Zone of the GKE cluster."
  value       = google_container_cluster.kos.location
}

output "kubectl_credentials_command" {
  description = "Command that writes a kubeconfig entry for the cluster (needs gcloud and gke-gcloud-auth-plugin)."
  value       = "gcloud container clusters get-credentials ${google_container_cluster.kos.name} --zone ${google_container_cluster.kos.location} --project ${var.gcp_project_id}"
}

output "confluent_environment_id" {
  description = "ID of the Confluent Cloud environment."
  value       = confluent_environment.kos.id
}

output "kafka_cluster_id" {
  description = "ID of the Confluent Cloud Kafka cluster."
  value       = confluent_kafka_cluster.kos.id
}

output "kafka_bootstrap_servers" {
  description = "bootstrap.servers of the Kafka cluster (SASL_SSL, PLAIN)."
  value       = local.bootstrap
}

output "kafka_topics" {
  description = "Topics and their partition counts; the two inputs are co-partitioned."
  value = {
    (confluent_kafka_topic.game_frame_rq.topic_name) = confluent_kafka_topic.game_frame_rq.partitions_count
    (confluent_kafka_topic.game_frame_rs.topic_name) = confluent_kafka_topic.game_frame_rs.partitions_count
    (confluent_kafka_topic.sessions.topic_name)      = confluent_kafka_topic.sessions.partitions_count
  }
}

output "kafka_api_key_ids" {
  description = "IDs (not secrets) of the Kafka API keys in the Secrets kos/kos-kafka (app) and kos/kos-adapter-kafka (adapter)."
  value = {
    app     = confluent_api_key.app.id
    adapter = confluent_api_key.adapter.id
  }
}

output "processor_hpa" {
  description = "Which processor HPA is deployed (pods or external-lag)."
  value       = var.processor_hpa
}

output "check_commands" {
  description = "Commands to see the APIServices, the metrics and the HPAs at work."
  value = [
    "kubectl get apiservices v1beta2.custom.metrics.k8s.io v1beta1.custom.metrics.k8s.io v1beta1.external.metrics.k8s.io",
    "kubectl get --raw '/apis/external.metrics.k8s.io/v1beta1/namespaces/kos/kafka_consumergroup_lag?labelSelector=group%3DKINGOFSCALING-APP'",
    "kubectl get --raw '/apis/custom.metrics.k8s.io/v1beta2/namespaces/kos/pods/*/consumer_lag_game_frame_rq?labelSelector=app.kubernetes.io%2Fname%3Dkos-processor'",
    "kubectl -n kos get hpa -w",
  ]
}
