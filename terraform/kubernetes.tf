# kos on the GKE cluster: the Kafka credentials Secrets (kubernetes provider) and the manifests
# (kustomization provider, building manifests/overlays/cloud).
#
# Why the kbst/kustomization provider, not a null_resource running `kubectl apply -k`:
#   * it builds the same kustomize tree in-process (no kubectl, gcloud or auth plugin needed
#     where terraform runs) and from values terraform knows (image tag, HPA variant);
#   * every object is its own resource in the state: `plan` shows per-object diffs (via
#     server-side dry run), objects removed from manifests/ are deleted, `destroy` cleans up;
#     a local-exec provisioner runs once and knows none of that;
#   * ordering is explicit: namespaces first (ids_prio[0]), then everything else.
# Secrets are marked sensitive so their data never shows in plan output.
#
# The providers are configured from the cluster created in this same configuration. On the
# very first run, create the cluster first (see README.md):
#   terraform apply -target=google_container_node_pool.primary && terraform apply

locals {
  manifests_dir = "${path.module}/../manifests"
  cloud_overlay = "${local.manifests_dir}/overlays/cloud"
  certs_dir     = "${local.cloud_overlay}/certs"

  cluster_endpoint = "https://${google_container_cluster.kos.endpoint}"
  cluster_ca       = google_container_cluster.kos.master_auth[0].cluster_ca_certificate

  # Same credentials for the kustomization provider, which takes a kubeconfig.
  kubeconfig = yamlencode({
    apiVersion        = "v1"
    kind              = "Config"
    "current-context" = "kos"
    clusters = [{
      name = "kos"
      cluster = {
        server                       = local.cluster_endpoint
        "certificate-authority-data" = local.cluster_ca
      }
    }]
    users = [{
      name = "terraform"
      user = { token = data.google_client_config.current.access_token }
    }]
    contexts = [{
      name    = "kos"
      context = { cluster = "kos", user = "terraform" }
    }]
  })
}

provider "kubernetes" {
  host                   = local.cluster_endpoint
  token                  = data.google_client_config.current.access_token
  cluster_ca_certificate = base64decode(local.cluster_ca)
}

provider "kustomization" {
  kubeconfig_raw = local.kubeconfig
}

# ---- manifests -----------------------------------------------------------------------------------

data "kustomization_overlay" "kos" {
  resources = [local.cloud_overlay]

  # processor_hpa = "external-lag": the processor HPA on External kafka_consumergroup_lag.
  components = var.processor_hpa == "external-lag" ? ["${local.manifests_dir}/components/hpa-external-lag"] : []

  images {
    name    = "ghcr.io/kos-project/kos"
    new_tag = var.image_tag
  }

  lifecycle {
    precondition {
      condition = alltrue([
        for f in ["serving.crt", "serving.key", "ca-bundle.b64"] : fileexists("${local.certs_dir}/${f}")
      ])
      error_message = "The adapter's certificates are missing: run certs/gen-certs.sh manifests/overlays/cloud/certs --service kos-adapter --namespace kos (from the repository root) first."
    }
  }
}

# Namespace kos (and any CRD) first.
resource "kustomization_resource" "p0" {
  for_each = data.kustomization_overlay.kos.ids_prio[0]

  manifest = (
    contains(["_/Secret"], regex("(?P<group_kind>.*/.*)/.*/.*", each.value)["group_kind"])
    ? sensitive(data.kustomization_overlay.kos.manifests[each.value])
    : data.kustomization_overlay.kos.manifests[each.value]
  )
}

# The Kafka credentials the Deployments mount. overlays/cloud deletes the placeholder
# templates of base/, so these are the only definitions of the two Secrets.
resource "kubernetes_secret_v1" "kafka" {
  for_each = {
    "kos-kafka"         = confluent_api_key.app
    "kos-adapter-kafka" = confluent_api_key.adapter
  }

  metadata {
    name      = each.key
    namespace = "kos"
    labels = {
      "app.kubernetes.io/part-of"   = "kos"
      "app.kubernetes.io/component" = "kafka-credentials"
    }
  }

  data = {
    "kafka.properties" = templatefile("${path.module}/kafka.properties.tftpl", {
      bootstrap_servers = local.bootstrap
      api_key           = each.value.id
      api_secret        = each.value.secret
    })
  }

  depends_on = [kustomization_resource.p0]
}

# Everything else: RBAC, the adapter, APIServices, processor, generator, HPAs.
resource "kustomization_resource" "p1" {
  for_each = data.kustomization_overlay.kos.ids_prio[1]

  manifest = (
    contains(["_/Secret"], regex("(?P<group_kind>.*/.*)/.*/.*", each.value)["group_kind"])
    ? sensitive(data.kustomization_overlay.kos.manifests[each.value])
    : data.kustomization_overlay.kos.manifests[each.value]
  )

  wait = var.wait_for_rollout
  timeouts {
    create = "5m"
    update = "5m"
  }

  # The pods need their Kafka credentials, and the topics and ACLs must exist before the
  # processor joins its group and the adapter reads offsets.
  depends_on = [
    kustomization_resource.p0,
    kubernetes_secret_v1.kafka,
    confluent_kafka_topic.game_frame_rq,
    confluent_kafka_topic.game_frame_rs,
    confluent_kafka_topic.sessions,
    confluent_kafka_acl.kos,
  ]
}

# ids_prio[2] holds admission webhooks; kos has none.
