package dev.ambientj.config.server.waypoint;

import dev.ambientj.config.GracefulShutdown;
import dev.ambientj.config.ca.KubernetesCaRoot;
import dev.ambientj.config.ca.KubernetesTokenAuthenticator;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The desired ServiceAccount, Service and Deployment of one waypoint Gateway, each carrying the
 * hash of its own content in {@value WaypointController#SPEC_HASH}.
 *
 * <p>With {@code tls}, the waypoint reaches the config server as Istio's proxies reach istiod:
 * xDS and CA on the same TLS address, the server verified with the mesh root from the ConfigMap
 * {@value KubernetesCaRoot#CONFIG_MAP} (mounted at {@value #ROOT_CERT_DIR}), each call carrying
 * the pod's projected service-account token (audience {@value
 * KubernetesTokenAuthenticator#AUDIENCE}, mounted at {@value #TOKEN_DIR}); the CA grants it its
 * own identity.
 */
final class WaypointResources {
  static final String TOKEN_DIR = "/var/run/secrets/tokens";
  static final String TOKEN_FILE = TOKEN_DIR + "/istio-token";
  static final String ROOT_CERT_DIR = "/var/run/secrets/istio";
  static final String ROOT_CERT_FILE = ROOT_CERT_DIR + "/" + KubernetesCaRoot.ROOT_CERT_KEY;
  /** ztunnel's token lifetime (ISTIO-FACTS §6); the kubelet rotates it at 80 %. */
  static final long TOKEN_SECONDS = 43200;

  private final Gateway gateway;
  private final WaypointSettings settings;
  private final OwnerReference owner;
  private final boolean tls;

  WaypointResources(Gateway gateway, WaypointSettings settings, OwnerReference owner) {
    this(gateway, settings, owner, false);
  }

  WaypointResources(Gateway gateway, WaypointSettings settings, OwnerReference owner, boolean tls) {
    this.gateway = gateway;
    this.settings = settings;
    this.owner = owner;
    this.tls = tls;
  }

  /** The waypoint pod's termination grace period (Kubernetes' default, made explicit). */
  static final long TERMINATION_GRACE_SECONDS = 30;
  /** The waypoint's metrics and admin port (mesh waypoint binds it on the pod IP). */
  static final int METRICS_PORT = 15020;

  private List<String> args() {
    List<String> a = new ArrayList<>(List.of("waypoint", "--xds", settings.xdsAddress()));
    if (tls) {
      a.addAll(List.of("--ca-address", settings.xdsAddress(), "--ca-token-file", TOKEN_FILE,
          "--ca-root-cert", ROOT_CERT_FILE));
    }
    a.addAll(List.of("--name", name(), "--namespace", namespace()));
    return a;
  }

  private List<Volume> volumes() {
    if (!tls) {
      return List.of();
    }
    return List.of(
        new VolumeBuilder().withName("istio-token").withNewProjected().addNewSource()
            .withNewServiceAccountToken().withAudience(KubernetesTokenAuthenticator.AUDIENCE)
            .withExpirationSeconds(TOKEN_SECONDS).withPath("istio-token")
            .endServiceAccountToken().endSource().endProjected().build(),
        new VolumeBuilder().withName("istio-ca-root").withNewConfigMap()
            .withName(KubernetesCaRoot.CONFIG_MAP).endConfigMap().build());
  }

  private List<VolumeMount> mounts() {
    if (!tls) {
      return List.of();
    }
    return List.of(
        new VolumeMountBuilder().withName("istio-token").withMountPath(TOKEN_DIR)
            .withReadOnly(true).build(),
        new VolumeMountBuilder().withName("istio-ca-root").withMountPath(ROOT_CERT_DIR)
            .withReadOnly(true).build());
  }

  private String name() {
    return gateway.getMetadata().getName();
  }

  private String namespace() {
    return gateway.getMetadata().getNamespace();
  }

  /** Labels on every child and on the waypoint pods; the first one is also the selector. */
  private Map<String, String> labels() {
    Map<String, String> l = new LinkedHashMap<>();
    l.put(WaypointController.GATEWAY_NAME_LABEL, name());
    l.put(WaypointController.DATAPLANE_MODE_LABEL, "none");
    l.put(WaypointController.MANAGED_BY_LABEL, WaypointController.MANAGED_BY);
    return l;
  }

  private ObjectMeta meta() {
    return new ObjectMetaBuilder()
        .withName(name())
        .withNamespace(namespace())
        .withLabels(labels())
        .withOwnerReferences(owner)
        .build();
  }

  ServiceAccount serviceAccount() {
    return hashed(new ServiceAccountBuilder().withMetadata(meta()).build());
  }

  Service service() {
    return hashed(
        new ServiceBuilder()
            .withMetadata(meta())
            .withNewSpec()
            .withType("ClusterIP")
            .withSelector(Map.of(WaypointController.GATEWAY_NAME_LABEL, name()))
            .addNewPort()
            .withName("mesh")
            .withProtocol("TCP")
            .withPort(WaypointController.HBONE_PORT)
            .withTargetPort(new IntOrString(WaypointController.HBONE_PORT))
            .endPort()
            .endSpec()
            .build());
  }

  Deployment deployment() {
    return hashed(
        new DeploymentBuilder()
            .withMetadata(meta())
            .withNewSpec()
            .withReplicas(1)
            .withNewSelector()
            .withMatchLabels(Map.of(WaypointController.GATEWAY_NAME_LABEL, name()))
            .endSelector()
            .withNewTemplate()
            .withNewMetadata()
            .withLabels(labels())
            // where Prometheus finds the waypoint's metrics, as on Istio's waypoint pods
            .withAnnotations(Map.of("prometheus.io/scrape", "true",
                "prometheus.io/port", Integer.toString(METRICS_PORT),
                "prometheus.io/path", "/stats/prometheus"))
            .endMetadata()
            .withNewSpec()
            .withServiceAccountName(name())
            .withTerminationGracePeriodSeconds(TERMINATION_GRACE_SECONDS)
            .addNewContainer()
            .withName("waypoint")
            .withImage(settings.image())
            .withCommand("/app/mesh")
            .withArgs(args())
            // its own IP in its xDS node id (ztunnel~<ip>~…), as Istio's proxies take it
            .addNewEnv()
            .withName("INSTANCE_IP")
            .withNewValueFrom()
            .withNewFieldRef()
            .withFieldPath("status.podIP")
            .endFieldRef()
            .endValueFrom()
            .endEnv()
            // the waypoint drains for the grace period less 5 s, then ends what is left (issue 16)
            .addNewEnv()
            .withName(GracefulShutdown.GRACE_ENV)
            .withValue(Long.toString(TERMINATION_GRACE_SECONDS))
            .endEnv()
            .withVolumeMounts(mounts())
            .addNewPort()
            .withName("mesh")
            .withContainerPort(WaypointController.HBONE_PORT)
            .withProtocol("TCP")
            .endPort()
            .addNewPort()
            .withName("http-metrics")
            .withContainerPort(METRICS_PORT)
            .withProtocol("TCP")
            .endPort()
            .withNewReadinessProbe()
            .withNewTcpSocket()
            .withPort(new IntOrString(WaypointController.HBONE_PORT))
            .endTcpSocket()
            .withPeriodSeconds(5)
            .endReadinessProbe()
            .endContainer()
            .withVolumes(volumes())
            .endSpec()
            .endTemplate()
            .endSpec()
            .build());
  }

  private static <T extends HasMetadata> T hashed(T object) {
    String hash = sha256(Serialization.asJson(object));
    Map<String, String> annotations = new LinkedHashMap<>();
    annotations.put(WaypointController.SPEC_HASH, hash);
    object.getMetadata().setAnnotations(annotations);
    return object;
  }

  private static String sha256(String s) {
    try {
      MessageDigest d = MessageDigest.getInstance("SHA-256");
      return HexFormat.of().formatHex(d.digest(s.getBytes(StandardCharsets.UTF_8)), 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
