package dev.ambientj.it.cluster;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;

/**
 * The control-plane loops a cluster runs that the mock API server does not: the Service IP
 * allocator, the DaemonSet and Deployment controllers (with the scheduler: a Deployment's pod goes
 * to the matching node with the fewest non-DaemonSet pods), and the garbage collector (objects whose
 * owner is gone are deleted, as with background cascading deletion). Deployments own their pods
 * directly (no ReplicaSet in between). One call of {@link #reconcile} is one pass over everything.
 */
final class Controllers {
  static final String DS_HASH = "controller-revision-hash";
  static final String DEPLOY_HASH = "pod-template-hash";
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final String ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

  private final Cluster cluster;
  private final KubernetesClient client;
  private final String serviceNet;
  private int nextServiceIp = 10;

  Controllers(Cluster cluster, String serviceNet) {
    this.cluster = cluster;
    this.client = cluster.client();
    this.serviceNet = serviceNet;
  }

  private int passes;

  /** One pass; the garbage collector every 4th (it reads every owned object and its owners). */
  void reconcile() {
    allocateServiceIps();
    List<Pod> pods = client.pods().inAnyNamespace().list().getItems();
    for (DaemonSet ds : client.apps().daemonSets().inAnyNamespace().list().getItems()) {
      daemonSet(ds, pods);
    }
    for (Deployment d : client.apps().deployments().inAnyNamespace().list().getItems()) {
      deployment(d, pods);
    }
    if (passes++ % 4 == 0) {
      collectGarbage();
    }
  }

  /** The API server's ClusterIP allocator: a Service without one gets the next free address. */
  private void allocateServiceIps() {
    for (Service s : client.services().inAnyNamespace().list().getItems()) {
      String type = s.getSpec().getType();
      String ip = s.getSpec().getClusterIP();
      if ((type == null || type.equals("ClusterIP")) && (ip == null || ip.isEmpty())) {
        String vip = serviceNet + "." + nextServiceIp++;
        s.getSpec().setClusterIP(vip);
        s.getSpec().setClusterIPs(List.of(vip));
        s.getSpec().setType("ClusterIP");
        try {
          client.services().inNamespace(s.getMetadata().getNamespace()).resource(s).update();
          cluster.log("allocated cluster IP " + vip + " to service " + key(s));
        } catch (KubernetesClientException e) {
          nextServiceIp--; // changed meanwhile: next pass
        }
      }
    }
  }

  /** One node's pods of a DaemonSet: of the current template, and older ones. */
  private record NodePods(SimNode node, List<Pod> current, List<Pod> old) {
    boolean available() {
      return current.stream().anyMatch(Controllers::ready) || old.stream().anyMatch(Controllers::ready);
    }
  }

  /**
   * The DaemonSet controller with its update strategy as Kubernetes applies it across the nodes:
   * {@code RollingUpdate} with {@code maxSurge} > 0 starts the new pod on at most that many nodes
   * at a time and deletes a node's old pod once its new one is ready; with {@code maxSurge} 0 it
   * deletes the old pod first (the new one is created once it is gone) on at most {@code
   * maxUnavailable} nodes without a ready pod; {@code OnDelete} replaces only deleted pods.
   */
  private void daemonSet(DaemonSet ds, List<Pod> pods) {
    String hash = hash(ds.getSpec().getTemplate());
    var strategy = ds.getSpec().getUpdateStrategy();
    boolean onDelete = strategy != null && "OnDelete".equals(strategy.getType());
    var rolling = strategy == null ? null : strategy.getRollingUpdate();
    List<NodePods> nodes = new ArrayList<>();
    for (SimNode node : cluster.nodes()) {
      if (selects(ds.getSpec().getTemplate(), node)) {
        List<Pod> mine = pods.stream().filter(p -> ownedBy(p, ds) && node.name.equals(p.getSpec().getNodeName())).toList();
        nodes.add(new NodePods(node, mine.stream().filter(p -> hash.equals(label(p, DS_HASH))).toList(),
            mine.stream().filter(p -> !hash.equals(label(p, DS_HASH))).toList()));
      }
    }
    // apps/v1 defaults: maxSurge 0, maxUnavailable 1; percentages of the nodes, rounded up
    int maxSurge = scaled(rolling == null ? null : rolling.getMaxSurge(), nodes.size(), 0);
    int maxUnavailable = scaled(rolling == null ? null : rolling.getMaxUnavailable(), nodes.size(), 1);
    int surging = (int) nodes.stream().filter(n -> !n.current().isEmpty() && !n.old().isEmpty()).count();
    int unavailable = (int) nodes.stream().filter(n -> !n.available()).count();
    for (NodePods n : nodes) {
      if (n.current().isEmpty() && n.old().isEmpty()) {
        create(ds, ds.getSpec().getTemplate(), n.node(), DS_HASH, hash, ds.getMetadata().getName());
      } else if (n.current().isEmpty() && !onDelete) {
        if (maxSurge > 0) {
          if (surging < maxSurge) {
            cluster.log("DaemonSet " + key(ds) + ": rolling " + n.node().name + " (surge: new pod first)");
            create(ds, ds.getSpec().getTemplate(), n.node(), DS_HASH, hash, ds.getMetadata().getName());
            surging++;
          }
        } else if (!n.available() || unavailable < maxUnavailable) {
          cluster.log("DaemonSet " + key(ds) + ": rolling " + n.node().name + " (old pod first)");
          n.old().forEach(this::delete);
          unavailable += n.available() ? 1 : 0;
        }
      } else if (!n.old().isEmpty() && n.current().stream().anyMatch(Controllers::ready)) {
        n.old().forEach(this::delete);
      }
      for (int i = 1; i < n.current().size(); i++) {
        delete(n.current().get(i));
      }
    }
  }

  /** An int-or-percent of {@code total}, rounded up; {@code dflt} when unset. */
  private static int scaled(io.fabric8.kubernetes.api.model.IntOrString v, int total, int dflt) {
    if (v == null) {
      return dflt;
    }
    if (v.getIntVal() != null) {
      return v.getIntVal();
    }
    String s = v.getStrVal().trim();
    if (s.endsWith("%")) {
      return (int) Math.ceil(total * Integer.parseInt(s.substring(0, s.length() - 1)) / 100.0);
    }
    return Integer.parseInt(s);
  }

  private void deployment(Deployment d, List<Pod> pods) {
    String hash = hash(d.getSpec().getTemplate());
    int replicas = d.getSpec().getReplicas() == null ? 1 : d.getSpec().getReplicas();
    List<Pod> mine = pods.stream().filter(p -> ownedBy(p, d)).toList();
    List<Pod> current = mine.stream().filter(p -> hash.equals(label(p, DEPLOY_HASH))).toList();
    List<Pod> old = mine.stream().filter(p -> !hash.equals(label(p, DEPLOY_HASH))).toList();
    boolean recreate = d.getSpec().getStrategy() != null && "Recreate".equals(d.getSpec().getStrategy().getType());
    if (recreate && !old.isEmpty()) {
      old.forEach(this::delete);
    } else {
      for (int i = current.size(); i < replicas; i++) {
        SimNode node = schedule(d.getSpec().getTemplate(), pods);
        if (node != null) {
          create(d, d.getSpec().getTemplate(), node, DEPLOY_HASH, hash,
              d.getMetadata().getName() + "-" + hash.substring(0, 10));
        }
      }
      if (!old.isEmpty() && current.stream().filter(Controllers::ready).count() >= replicas) {
        old.forEach(this::delete);
      }
    }
    for (int i = replicas; i < current.size(); i++) {
      delete(current.get(i));
    }
    int ready = (int) mine.stream().filter(Controllers::ready).count();
    var status = d.getStatus() == null ? new io.fabric8.kubernetes.api.model.apps.DeploymentStatus() : d.getStatus();
    Long generation = d.getMetadata().getGeneration();
    if (!Objects.equals(status.getReadyReplicas(), ready) || !Objects.equals(status.getReplicas(), mine.size())
        || !Objects.equals(status.getUpdatedReplicas(), current.size())) {
      status.setReplicas(mine.size());
      status.setUpdatedReplicas(current.size());
      status.setReadyReplicas(ready);
      status.setAvailableReplicas(ready);
      status.setObservedGeneration(generation);
      d.setStatus(status);
      try {
        client.apps().deployments().inNamespace(d.getMetadata().getNamespace()).resource(d).updateStatus();
      } catch (KubernetesClientException e) {
        // changed meanwhile: next pass
      }
    }
  }

  /** The scheduler: the node matching the template with the fewest pods not of a DaemonSet. */
  private SimNode schedule(PodTemplateSpec template, List<Pod> pods) {
    SimNode best = null;
    long least = Long.MAX_VALUE;
    for (SimNode n : cluster.nodes()) {
      if (!selects(template, n)) {
        continue;
      }
      long count = pods.stream().filter(p -> n.name.equals(p.getSpec().getNodeName()))
          .filter(p -> p.getMetadata().getOwnerReferences().stream().noneMatch(o -> o.getKind().equals("DaemonSet")))
          .count();
      if (count < least) {
        least = count;
        best = n;
      }
    }
    return best;
  }

  private boolean selects(PodTemplateSpec template, SimNode node) {
    Map<String, String> selector = template.getSpec().getNodeSelector();
    if (selector == null) {
      return true;
    }
    Map<String, String> labels = cluster.nodeLabels(node);
    return selector.entrySet().stream().allMatch(e -> e.getValue().equals(labels.get(e.getKey())));
  }

  private void create(HasMetadata owner, PodTemplateSpec template, SimNode node, String hashLabel, String hash,
      String prefix) {
    Pod pod = new Pod();
    pod.setMetadata(Serialization.clone(template.getMetadata()));
    if (pod.getMetadata() == null) {
      pod.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMeta());
    }
    Map<String, String> labels = new LinkedHashMap<>(pod.getMetadata().getLabels() == null ? Map.of() : pod.getMetadata().getLabels());
    labels.put(hashLabel, hash);
    pod.getMetadata().setLabels(labels);
    pod.getMetadata().setName(prefix + "-" + random(5));
    pod.getMetadata().setNamespace(owner.getMetadata().getNamespace());
    pod.getMetadata().setUid(UUID.randomUUID().toString());
    pod.getMetadata().setOwnerReferences(List.of(new OwnerReferenceBuilder().withApiVersion(owner.getApiVersion())
        .withKind(owner.getKind()).withName(owner.getMetadata().getName()).withUid(owner.getMetadata().getUid())
        .withController(true).withBlockOwnerDeletion(true).build()));
    pod.setSpec(Serialization.clone(template.getSpec()));
    pod.getSpec().setNodeName(node.name);
    if (pod.getSpec().getServiceAccountName() == null) {
      pod.getSpec().setServiceAccountName("default");
    }
    pod.setStatus(new io.fabric8.kubernetes.api.model.PodStatusBuilder().withPhase("Pending").build());
    client.pods().inNamespace(pod.getMetadata().getNamespace()).resource(pod).create();
    cluster.log(owner.getKind() + " " + key(owner) + ": created pod " + pod.getMetadata().getName() + " on " + node.name);
  }

  private void delete(Pod p) {
    cluster.log("deleting pod " + key(p));
    client.pods().inNamespace(p.getMetadata().getNamespace()).withName(p.getMetadata().getName()).delete();
  }

  /** Background cascading deletion: pods, Deployments, Services and ServiceAccounts whose owner is gone. */
  private void collectGarbage() {
    List<HasMetadata> owned = new ArrayList<>();
    owned.addAll(client.pods().inAnyNamespace().list().getItems());
    owned.addAll(client.apps().deployments().inAnyNamespace().list().getItems());
    owned.addAll(client.services().inAnyNamespace().list().getItems());
    owned.addAll(client.serviceAccounts().inAnyNamespace().list().getItems());
    Map<String, Boolean> exists = new HashMap<>();
    for (HasMetadata o : owned) {
      List<OwnerReference> refs = o.getMetadata().getOwnerReferences();
      if (refs == null || refs.isEmpty()) {
        continue;
      }
      boolean anyOwner = false;
      for (OwnerReference r : refs) {
        String k = r.getApiVersion() + "/" + r.getKind() + "/" + o.getMetadata().getNamespace() + "/" + r.getName() + "/" + r.getUid();
        anyOwner |= exists.computeIfAbsent(k, x -> ownerExists(r, o.getMetadata().getNamespace()));
      }
      if (!anyOwner) {
        cluster.log("garbage collector: deleting " + o.getKind() + " " + key(o) + " (owner gone)");
        try {
          client.resource(o).inNamespace(o.getMetadata().getNamespace()).delete();
        } catch (KubernetesClientException e) {
          // gone already
        }
      }
    }
  }

  private boolean ownerExists(OwnerReference r, String namespace) {
    try {
      GenericKubernetesResource owner = client.genericKubernetesResources(r.getApiVersion(), r.getKind())
          .inNamespace(namespace).withName(r.getName()).get();
      return owner != null && (r.getUid() == null || r.getUid().equals(owner.getMetadata().getUid()));
    } catch (KubernetesClientException e) {
      return true; // unsure: keep it
    }
  }

  static boolean ownedBy(HasMetadata o, HasMetadata owner) {
    return o.getMetadata().getOwnerReferences() != null && o.getMetadata().getOwnerReferences().stream()
        .anyMatch(r -> r.getKind().equals(owner.getKind()) && r.getName().equals(owner.getMetadata().getName())
            && Objects.equals(r.getUid(), owner.getMetadata().getUid()));
  }

  static boolean ready(Pod p) {
    return p.getStatus() != null && p.getStatus().getConditions() != null && p.getStatus().getConditions().stream()
        .anyMatch(c -> c.getType().equals("Ready") && c.getStatus().equals("True"));
  }

  private static String label(HasMetadata o, String key) {
    return o.getMetadata().getLabels() == null ? null : o.getMetadata().getLabels().get(key);
  }

  static String key(HasMetadata o) {
    return o.getMetadata().getNamespace() == null ? o.getMetadata().getName()
        : o.getMetadata().getNamespace() + "/" + o.getMetadata().getName();
  }

  private static String hash(PodTemplateSpec template) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(Serialization.asJson(template).getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String random(int n) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
    }
    return b.toString();
  }
}
