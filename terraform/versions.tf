# Terraform and provider versions. `terraform init` fetches the providers from their registry
# and writes .terraform.lock.hcl (commit it after the first init on a machine with access).
terraform {
  # 1.5 is the oldest release this configuration is formatted and parsed with (data-source
  # preconditions need 1.2+); newer 1.x releases work too.
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    # GKE cluster and node pool.
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    # Confluent Cloud: environment, Kafka cluster, topics, service accounts, API keys, ACLs.
    confluent = {
      source  = "confluentinc/confluent"
      version = "~> 2.0"
    }
    # The Kafka credentials Secrets.
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.30"
    }
    # Builds manifests/ with kustomize in-process and applies each object (see kubernetes.tf).
    kustomization = {
      source  = "kbst/kustomization"
      version = "~> 0.9"
    }
  }
}
