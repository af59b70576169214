# A GKE cluster like the original's: zonal (europe-west1-b), one node pool of 4 nodes.

provider "google" {
  project = var.gcp_project_id
  region  = var.gcp_region
}

resource "google_container_cluster" "kos" {
  name     = var.cluster_name
  location = var.gcp_zone

  # The default pool is replaced by google_container_node_pool.primary (a pool managed as its
  # own resource can change machine type or size without recreating the cluster).
  remove_default_node_pool = true
  initial_node_count       = 1

  deletion_protection = var.deletion_protection
  networking_mode     = "VPC_NATIVE"
  ip_allocation_policy {}

  release_channel {
    channel = var.gke_release_channel
  }
}

resource "google_container_node_pool" "primary" {
  name       = "${var.cluster_name}-pool"
  cluster    = google_container_cluster.kos.id
  location   = var.gcp_zone
  node_count = var.node_count

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type = var.machine_type
    disk_size_gb = var.node_disk_size_gb
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    labels = {
      "app.kubernetes.io/part-of" = "kos"
    }

    shielded_instance_config {
      enable_secure_boot = true
    }
  }
}

# Credentials of whoever runs terraform, for the kubernetes and kustomization providers.
data "google_client_config" "current" {}
