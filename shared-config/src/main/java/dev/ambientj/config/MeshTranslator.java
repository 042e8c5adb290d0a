package dev.ambientj.config;

import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.ConfigWarning;
import dev.ambientj.config.model.Endpoint;
import dev.ambientj.config.model.LocalRateLimit;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Node;
import dev.ambientj.config.model.NotApplicable;
import dev.ambientj.config.model.PolicyObjects;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.config.model.TunnelProtocol;
import dev.ambientj.config.model.Waypoint;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayClass;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatusAddress;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Listener;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Turns Kubernetes objects into one {@link MeshSnapshot}.
 *
 * <p>Each object is validated alone; an invalid one becomes a {@link ConfigRejection} ({@code Kind
 * namespace/name: field.path: problem (expected …)}) and the others still apply, as istiod's
 * validation does. When the same kind, namespace and name appear twice, the later one wins (as with
 * {@code kubectl apply} of the files in order) and the earlier one is reported as replaced.
 *
 * <p><b>The last good version stays in force.</b> A translator remembers, per object (API group,
 * kind, namespace, name), the version it last accepted. When a new version of that object fails
 * validation, the remembered one is translated in its place and the rejection says so ({@link
 * ConfigRejection#previousInForce()}), as the API server's admission would have left the stored
 * object alone. A new object that fails validation is not applied. An object absent from the input
 * is deleted and forgotten. A rejected object whose kind or group cannot be read (a typo in {@code
 * kind:}) keeps in force a remembered object of the same namespace and name that is absent from the
 * input. Every source (file, Kubernetes, the config server's) uses its own translator sequentially,
 * so a policy in force never disappears because its new version was invalid.
 *
 * <p><b>Unknown fields.</b> In AuthorizationPolicy and PeerAuthentication an unknown or misplaced
 * field rejects the object (a misspelt {@code fromm:} would otherwise drop a rule's condition and
 * widen the policy); in other kinds it is reported as a {@link ConfigWarning} and ignored.
 *
 * <p>Rules (ISTIO-FACTS §10, §11):
 *
 * <ul>
 *   <li>Enrollment: a pod is enrolled when it is labeled {@code istio.io/dataplane-mode=ambient},
 *       or its namespace is and the pod is not labeled {@code none}; never when it has host
 *       networking or a sidecar ({@code sidecar.istio.io/status} annotation), and never the ztunnel
 *       itself.
 *   <li>Waypoint binding: {@code istio.io/use-waypoint} on the pod/Service wins over the
 *       namespace's; {@code none} opts out; {@code istio.io/use-waypoint-namespace} names another
 *       namespace. A binding to a missing waypoint, or to one whose {@code istio.io/waypoint-for}
 *       does not cover the object, leaves the object unbound (analyze reports it). Waypoint pods
 *       are never bound.
 *   <li>Endpoints: pods of the Service's namespace matching its selector and having an address; a
 *       named targetPort is resolved per pod through its containerPorts, and a pod that cannot
 *       resolve every named targetPort is not an endpoint (as Kubernetes leaves it out of the
 *       EndpointSlice).
 * </ul>
 *
 * <p>Not thread-safe: one instance per source, used sequentially (it holds the last accepted
 * versions). Versions come from a process-wide counter, so every snapshot built in a process has a
 * higher version than the previous.
 */
public final class MeshTranslator {
  public static final String LABEL_DATAPLANE_MODE = "istio.io/dataplane-mode";
  public static final String LABEL_USE_WAYPOINT = "istio.io/use-waypoint";
  public static final String LABEL_USE_WAYPOINT_NAMESPACE = "istio.io/use-waypoint-namespace";
  public static final String LABEL_WAYPOINT_FOR = "istio.io/waypoint-for";
  public static final String LABEL_GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name";
  public static final String ANNOTATION_SIDECAR_STATUS = "sidecar.istio.io/status";
  public static final String WAYPOINT_CLASS = "istio-waypoint";
  static final String DEFAULT_NAMESPACE = "default";

  private static final AtomicLong VERSIONS = new AtomicLong();
  private static final Set<String> CLUSTER_SCOPED = Set.of("Namespace", "Node", "GatewayClass");
  /** The problem of an object replaced by a later one of the same kind, namespace and name. */
  public static final String DEFINED_AGAIN = "defined again later; the later definition applies";

  /** Kinds in which an unknown field rejects the object rather than being reported. */
  static final Set<String> STRICT_KINDS = Set.of("AuthorizationPolicy", "PeerAuthentication");

  private final String trustDomain;
  /** identity → the version last accepted; replaced whole by each translation. */
  private Map<String, HasMetadata> lastAccepted = Map.of();

  public MeshTranslator() {
    this(MeshSnapshot.DEFAULT_TRUST_DOMAIN);
  }

  public MeshTranslator(String trustDomain) {
    this.trustDomain = Objects.requireNonNull(trustDomain, "trustDomain");
  }

  /** Builds a snapshot from the objects, in order. Never throws on invalid input. */
  public MeshSnapshot translate(List<? extends HasMetadata> objects) {
    return translate(objects, List.of());
  }

  /**
   * As {@link #translate(List)}, with the problems the source found before translation (documents
   * it could not parse, files it kept the last good content of) listed first among the snapshot's
   * rejections.
   */
  public MeshSnapshot translate(
      List<? extends HasMetadata> objects, List<ConfigRejection> sourceRejections) {
    Run run = new Run(trustDomain, lastAccepted);
    run.rejections.addAll(sourceRejections);
    MeshSnapshot snapshot = run.translate(objects);
    lastAccepted = Map.copyOf(run.accepted);
    return snapshot;
  }

  /**
   * The namespace an object lives in: its own, or {@code default} for namespaced kinds without one.
   */
  /**
   * What makes two objects the same one for this translator (API group, kind, namespace, name):
   * of two objects with the same key, the later in the input applies.
   */
  public static String keyOf(HasMetadata o) {
    return Run.identity(o);
  }

  static String namespaceOf(HasMetadata o) {
    String kind = o.getKind();
    if (kind != null && CLUSTER_SCOPED.contains(kind)) {
      return "";
    }
    ObjectMeta m = o.getMetadata();
    String ns = m == null ? null : m.getNamespace();
    return ns == null || ns.isEmpty() ? DEFAULT_NAMESPACE : ns;
  }

  static String nameOf(HasMetadata o) {
    ObjectMeta m = o.getMetadata();
    return m == null ? null : m.getName();
  }

  static Map<String, String> labelsOf(HasMetadata o) {
    ObjectMeta m = o.getMetadata();
    return m == null || m.getLabels() == null ? Map.of() : m.getLabels();
  }

  private record PodWorkload(Pod pod, Workload workload) {}

  /** One translation: mutable working state, discarded after the snapshot is built. */
  private static final class Run {
    private final String trustDomain;
    private final Map<String, HasMetadata> previous;
    /** identity → the version accepted in this run (the input's, or the previous one kept). */
    private final Map<String, HasMetadata> accepted = new HashMap<>();
    private final List<ConfigRejection> rejections = new ArrayList<>();
    private final List<ConfigWarning> warnings = new ArrayList<>();
    /** The unknown fields of the object being accepted, reported once it is accepted. */
    private final List<UnknownFields.Found> warningsOfObject = new ArrayList<>();
    private final Map<String, Map<String, String>> namespaceLabels = new HashMap<>();
    private final Map<String, String> waypointForByClass = new HashMap<>();
    private final List<Node> nodes = new ArrayList<>();
    private final List<Pod> pods = new ArrayList<>();
    private final List<io.fabric8.kubernetes.api.model.Service> services = new ArrayList<>();
    private final List<Gateway> waypointGateways = new ArrayList<>();
    private final List<VirtualService> virtualServices = new ArrayList<>();
    private final List<DestinationRule> destinationRules = new ArrayList<>();
    private final List<AuthorizationPolicy> authorizationPolicies = new ArrayList<>();
    private final List<PeerAuthentication> peerAuthentications = new ArrayList<>();
    private final List<io.fabric8.istio.api.telemetry.v1.Telemetry> telemetries = new ArrayList<>();
    private final List<io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute> httpRoutes =
        new ArrayList<>();
    private final List<GRPCRoute> grpcRoutes = new ArrayList<>();
    private final List<LocalRateLimit> rateLimits = new ArrayList<>();
    private final List<NotApplicable> notApplicable = new ArrayList<>();

    Run(String trustDomain, Map<String, HasMetadata> previous) {
      this.trustDomain = trustDomain;
      this.previous = previous;
    }

    MeshSnapshot translate(List<? extends HasMetadata> input) {
      List<HasMetadata> latest = latestOfEach(input);
      Set<String> present = new HashSet<>();
      latest.forEach(o -> present.add(identity(o)));
      for (HasMetadata o : latest) {
        ConfigRejection rejected = tryAccept(o);
        if (rejected == null) {
          accepted.put(identity(o), o);
          continue;
        }
        HasMetadata kept = nameOf(o) == null ? null : previous.get(identity(o));
        if (kept == null) {
          kept = unreadableIdentity(rejected)
              ? absentNamesake(o, present) : null;
        }
        if (kept != null && tryAccept(kept) == null) {
          accepted.put(identity(kept), kept);
          rejections.add(rejected.keepingPrevious());
        } else {
          rejections.add(rejected);
        }
      }
      // Declaration order of Gateways and GatewayClasses does not matter: resolved after the loop.
      List<Waypoint> waypoints = buildWaypoints();
      Map<WaypointRef, Waypoint> waypointByRef = new HashMap<>();
      waypoints.forEach(w -> waypointByRef.put(w.ref(), w));
      List<Workload> workloads = new ArrayList<>();
      Map<String, List<PodWorkload>> podsByNamespace = new HashMap<>();
      for (Pod p : pods) {
        Workload w = toWorkload(p, waypointByRef);
        workloads.add(w);
        podsByNamespace
            .computeIfAbsent(w.namespace(), n -> new ArrayList<>())
            .add(new PodWorkload(p, w));
      }
      List<Service> svcs = new ArrayList<>();
      for (io.fabric8.kubernetes.api.model.Service s : services) {
        svcs.add(
            toService(s, podsByNamespace.getOrDefault(namespaceOf(s), List.of()), waypointByRef));
      }
      PolicyObjects policies =
          new PolicyObjects(
              virtualServices,
              destinationRules,
              authorizationPolicies,
              peerAuthentications,
              httpRoutes,
              grpcRoutes,
              rateLimits,
              notApplicable,
              telemetries);
      return MeshSnapshot.of(
          VERSIONS.incrementAndGet(),
          trustDomain,
          workloads,
          svcs,
          waypoints,
          nodes,
          policies,
          rejections,
          warnings);
    }

    /**
     * Validates and takes in one object; returns why it was refused, or null. What a refused object
     * contributed is not kept (every validator throws before it adds).
     */
    private ConfigRejection tryAccept(HasMetadata o) {
      warningsOfObject.clear();
      try {
        accept(o);
      } catch (InvalidField e) {
        return rejection(o, e.field, e.problem);
      } catch (RuntimeException e) {
        // A validator missed a case; the object is rejected, the snapshot still builds.
        return rejection(o, "", "could not be read: " + e);
      }
      for (UnknownFields.Found f : warningsOfObject) {
        warnings.add(new ConfigWarning(o.getKind(), namespaceOf(o), nameOf(o), f.path(),
            f.problem() + "; ignored"));
      }
      return null;
    }

    /** Whether the rejection is about the object's kind or group, so its identity is unsure. */
    private static boolean unreadableIdentity(ConfigRejection r) {
      return r.field().equals("kind") || r.field().equals("apiVersion");
    }

    /** The previously accepted object with {@code o}'s namespace and name, if absent from the input. */
    private HasMetadata absentNamesake(HasMetadata o, Set<String> present) {
      String name = nameOf(o);
      if (name == null) {
        return null;
      }
      for (Map.Entry<String, HasMetadata> e : previous.entrySet()) {
        HasMetadata p = e.getValue();
        if (!present.contains(e.getKey()) && !accepted.containsKey(e.getKey())
            && name.equals(nameOf(p)) && namespaceOf(p).equals(namespaceOf(o))) {
          return p;
        }
      }
      return null;
    }

    /**
     * Drops all but the last of objects with the same kind, apiVersion group, namespace and name.
     */
    private List<HasMetadata> latestOfEach(List<? extends HasMetadata> input) {
      Map<String, Integer> lastIndex = new HashMap<>();
      for (int i = 0; i < input.size(); i++) {
        lastIndex.put(identity(input.get(i)), i);
      }
      List<HasMetadata> out = new ArrayList<>();
      for (int i = 0; i < input.size(); i++) {
        HasMetadata o = input.get(i);
        if (nameOf(o) != null && lastIndex.get(identity(o)) != i) {
          reject(o, "metadata.name", DEFINED_AGAIN);
          continue;
        }
        out.add(o);
      }
      return out;
    }

    private static String identity(HasMetadata o) {
      String api = o.getApiVersion() == null ? "" : o.getApiVersion();
      String group = api.contains("/") ? api.substring(0, api.indexOf('/')) : "";
      return group + "|" + o.getKind() + "|" + namespaceOf(o) + "|" + nameOf(o);
    }

    private void reject(HasMetadata o, String field, String problem) {
      rejections.add(rejection(o, field, problem));
    }

    private static ConfigRejection rejection(HasMetadata o, String field, String problem) {
      return new ConfigRejection(o.getKind(), namespaceOf(o), nameOf(o), field, problem);
    }

    private void accept(HasMetadata o) throws InvalidField {
      String kind = o.getKind();
      String apiVersion = o.getApiVersion();
      if (kind == null || kind.isEmpty()) {
        throw new InvalidField("kind", "missing (expected a kind such as Pod or VirtualService)");
      }
      if (apiVersion == null || apiVersion.isEmpty()) {
        throw new InvalidField("apiVersion", "missing (expected " + expectedVersions(kind) + ")");
      }
      String name = nameOf(o);
      if (name == null || name.isBlank()) {
        throw new InvalidField("metadata.name", "missing (expected a name)");
      }
      if (!KnownKinds.isKnownKind(kind)) {
        throw new InvalidField(
            "kind",
            kind
                + " ("
                + apiVersion
                + ") is not supported by ambientj (expected one of "
                + String.join(", ", KnownKinds.kinds())
                + ")");
      }
      if (KnownKinds.isTreeKind(apiVersion, kind)) {
        acceptEnvoyFilter(o);
        return;
      }
      Class<? extends HasMetadata> type = KnownKinds.typeOf(apiVersion, kind);
      if (type == null) {
        throw new InvalidField(
            "apiVersion",
            apiVersion
                + " is not served for "
                + kind
                + " (expected "
                + expectedVersions(kind)
                + ")");
      }
      com.fasterxml.jackson.databind.JsonNode tree =
          type.isInstance(o)
              ? null
              : MeshYaml.SERIALIZATION.convertValue(
                  o, com.fasterxml.jackson.databind.JsonNode.class);
      HasMetadata typed = type.isInstance(o) ? o : convert(tree, kind, type);
      for (UnknownFields.Found f : UnknownFields.find(tree, typed)) {
        if (STRICT_KINDS.contains(kind)) {
          throw new InvalidField(f.path(), f.problem());
        }
        warningsOfObject.add(f);
      }
      switch (typed) {
        case Namespace n -> namespaceLabels.put(n.getMetadata().getName(), labelsOf(n));
        case io.fabric8.kubernetes.api.model.Node n -> nodes.add(toNode(n));
        case Pod p -> pods.add(Validation.pod(p));
        case io.fabric8.kubernetes.api.model.Service s -> services.add(Validation.service(s));
        case io.fabric8.kubernetes.api.model.ServiceAccount sa -> {}
        case io.fabric8.istio.api.networking.v1.VirtualService v ->
            virtualServices.add(Validation.virtualService(v));
        case io.fabric8.istio.api.networking.v1beta1.VirtualService v ->
            virtualServices.add(
                Validation.virtualService(
                    new VirtualService(
                        "networking.istio.io/v1",
                        "VirtualService",
                        v.getMetadata(),
                        v.getSpec(),
                        v.getStatus())));
        case io.fabric8.istio.api.networking.v1alpha3.VirtualService v ->
            virtualServices.add(
                Validation.virtualService(
                    new VirtualService(
                        "networking.istio.io/v1",
                        "VirtualService",
                        v.getMetadata(),
                        v.getSpec(),
                        v.getStatus())));
        case DestinationRule d -> destinationRules.add(Validation.destinationRule(d));
        case io.fabric8.istio.api.networking.v1beta1.DestinationRule d ->
            destinationRules.add(
                Validation.destinationRule(
                    new DestinationRule(
                        "networking.istio.io/v1",
                        "DestinationRule",
                        d.getMetadata(),
                        d.getSpec(),
                        d.getStatus())));
        case io.fabric8.istio.api.networking.v1alpha3.DestinationRule d ->
            destinationRules.add(
                Validation.destinationRule(
                    new DestinationRule(
                        "networking.istio.io/v1",
                        "DestinationRule",
                        d.getMetadata(),
                        d.getSpec(),
                        d.getStatus())));
        case AuthorizationPolicy a -> authorizationPolicies.add(Validation.authorizationPolicy(a));
        case io.fabric8.istio.api.security.v1beta1.AuthorizationPolicy a ->
            authorizationPolicies.add(
                Validation.authorizationPolicy(
                    new AuthorizationPolicy(
                        "security.istio.io/v1",
                        "AuthorizationPolicy",
                        a.getMetadata(),
                        a.getSpec(),
                        a.getStatus())));
        case PeerAuthentication p -> peerAuthentications.add(Validation.peerAuthentication(p));
        case io.fabric8.istio.api.security.v1beta1.PeerAuthentication p ->
            peerAuthentications.add(
                Validation.peerAuthentication(
                    new PeerAuthentication(
                        "security.istio.io/v1",
                        "PeerAuthentication",
                        p.getMetadata(),
                        p.getSpec(),
                        p.getStatus())));
        case io.fabric8.istio.api.telemetry.v1.Telemetry t -> telemetries.add(Validation.telemetry(t));
        case io.fabric8.istio.api.telemetry.v1alpha1.Telemetry t ->
            telemetries.add(
                Validation.telemetry(
                    new io.fabric8.istio.api.telemetry.v1.Telemetry(
                        "telemetry.istio.io/v1", "Telemetry", t.getMetadata(), t.getSpec(), t.getStatus())));
        case io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute r ->
            httpRoutes.add(Validation.httpRoute(r));
        case io.fabric8.kubernetes.api.model.gatewayapi.v1beta1.HTTPRoute r ->
            httpRoutes.add(
                Validation.httpRoute(
                    new io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute(
                        "gateway.networking.k8s.io/v1",
                        "HTTPRoute",
                        r.getMetadata(),
                        r.getSpec(),
                        r.getStatus())));
        case GRPCRoute r -> grpcRoutes.add(Validation.grpcRoute(r));
        case io.fabric8.kubernetes.api.model.gatewayapi.v1alpha2.GRPCRoute r ->
            grpcRoutes.add(
                Validation.grpcRoute(
                    new GRPCRoute(
                        "gateway.networking.k8s.io/v1",
                        "GRPCRoute",
                        r.getMetadata(),
                        r.getSpec(),
                        r.getStatus())));
        case Gateway g -> acceptGateway(g);
        case io.fabric8.kubernetes.api.model.gatewayapi.v1beta1.Gateway g ->
            acceptGateway(
                new Gateway(
                    "gateway.networking.k8s.io/v1",
                    "Gateway",
                    g.getMetadata(),
                    g.getSpec(),
                    g.getStatus()));
        case GatewayClass c ->
            acceptGatewayClass(
                c.getMetadata(), c.getSpec() == null ? null : c.getSpec().getControllerName());
        case io.fabric8.kubernetes.api.model.gatewayapi.v1beta1.GatewayClass c ->
            acceptGatewayClass(
                c.getMetadata(), c.getSpec() == null ? null : c.getSpec().getControllerName());
        case io.fabric8.istio.api.networking.v1.Sidecar s ->
            notApplicable(s, Validation.SIDECAR_REASON);
        case io.fabric8.istio.api.networking.v1beta1.Sidecar s ->
            notApplicable(s, Validation.SIDECAR_REASON);
        case io.fabric8.istio.api.networking.v1alpha3.Sidecar s ->
            notApplicable(s, Validation.SIDECAR_REASON);
        case io.fabric8.istio.api.networking.v1.Gateway g ->
            notApplicable(g, Validation.ISTIO_GATEWAY_REASON);
        case io.fabric8.istio.api.networking.v1beta1.Gateway g ->
            notApplicable(g, Validation.ISTIO_GATEWAY_REASON);
        case io.fabric8.istio.api.networking.v1alpha3.Gateway g ->
            notApplicable(g, Validation.ISTIO_GATEWAY_REASON);
        default ->
            throw new InvalidField("kind", kind + " is not handled (expected a supported kind)");
      }
    }

    private static String expectedVersions(String kind) {
      List<String> v = KnownKinds.versionsOf(kind);
      return v.isEmpty() ? "an apiVersion such as v1" : String.join(", ", v);
    }

    private static HasMetadata convert(
        com.fasterxml.jackson.databind.JsonNode tree,
        String kind,
        Class<? extends HasMetadata> type)
        throws InvalidField {
      TreeChecks.check(kind, tree);
      try {
        return MeshYaml.SERIALIZATION.convertValue(tree, type);
      } catch (IllegalArgumentException e) {
        Throwable cause = e.getCause() instanceof JsonMappingException ? e.getCause() : e;
        if (cause instanceof JsonMappingException jme) {
          throw new InvalidField(Validation.pathOf(jme), describe(jme, tree));
        }
        throw new InvalidField("", "does not match the " + kind + " schema: " + e.getMessage());
      }
    }

    private static String describe(
        JsonMappingException e, com.fasterxml.jackson.databind.JsonNode tree) {
      if (e instanceof com.fasterxml.jackson.databind.exc.MismatchedInputException mie
          && mie.getTargetType() != null
          && !(e instanceof InvalidFormatException)) {
        com.fasterxml.jackson.databind.JsonNode given = tree;
        for (JsonMappingException.Reference r : e.getPath()) {
          given = r.getIndex() >= 0 ? given.path(r.getIndex()) : given.path(r.getFieldName());
        }
        String shown = given.isMissingNode() ? "the value" : given.toString();
        Class<?> target = mie.getTargetType();
        if (java.util.Collection.class.isAssignableFrom(target) || target.isArray()) {
          return shown + " (expected a list)";
        }
        if (!given.isContainerNode() && !given.isMissingNode()
            && (Map.class.isAssignableFrom(target) || target.getName().startsWith("io.fabric8."))) {
          return shown + " (expected a mapping)";
        }
      }
      return describe(e);
    }

    private static String describe(JsonMappingException e) {
      if (e instanceof InvalidFormatException ife) {
        Class<?> target = ife.getTargetType();
        if (target != null && target.isEnum()) {
          List<String> names = new ArrayList<>();
          for (Object c : target.getEnumConstants()) {
            names.add(((Enum<?>) c).name());
          }
          return Validation.quote(ife.getValue())
              + " (expected one of "
              + String.join(", ", names)
              + ")";
        }
        return Validation.quote(ife.getValue())
            + " (expected "
            + (target == null ? "another type" : Validation.typeName(target))
            + ")";
      }
      if (e instanceof UnrecognizedPropertyException upe) {
        return "unknown field " + upe.getPropertyName();
      }
      String msg = e.getOriginalMessage();
      int nl = msg == null ? -1 : msg.indexOf('\n');
      return "does not fit the schema: " + (nl < 0 ? msg : msg.substring(0, nl));
    }

    private void notApplicable(HasMetadata o, String reason) {
      notApplicable.add(new NotApplicable(o.getKind(), namespaceOf(o), nameOf(o), reason));
    }

    private void acceptGatewayClass(ObjectMeta meta, String controller) {
      String waypointFor =
          meta.getLabels() == null ? null : meta.getLabels().get(LABEL_WAYPOINT_FOR);
      if (waypointFor != null) {
        waypointForByClass.put(meta.getName(), waypointFor);
      }
      notApplicable.add(
          new NotApplicable(
              "GatewayClass",
              "",
              meta.getName(),
              WAYPOINT_CLASS.equals(meta.getName())
                  ? "the istio-waypoint class is built in; only its istio.io/waypoint-for label is"
                        + " read"
                  : "ambientj runs waypoints only (class istio-waypoint); controller "
                      + controller
                      + " is not ambientj"));
    }

    private void acceptGateway(Gateway g) throws InvalidField {
      String cls = g.getSpec() == null ? null : g.getSpec().getGatewayClassName();
      if (!WAYPOINT_CLASS.equals(cls)) {
        notApplicable(
            g,
            "gatewayClassName "
                + cls
                + " is not "
                + WAYPOINT_CLASS
                + ": ambientj runs waypoints only; ingress and east-west gateways are not part of"
                + " its data plane");
        return;
      }
      String waypointFor = labelsOf(g).get(LABEL_WAYPOINT_FOR);
      if (waypointFor != null && !Validation.WAYPOINT_FOR.contains(waypointFor)) {
        throw new InvalidField(
            "metadata.labels[" + LABEL_WAYPOINT_FOR + "]",
            Validation.quote(waypointFor) + " (expected service, workload, all or none)");
      }
      boolean hbone = false;
      List<Listener> listeners =
          g.getSpec().getListeners() == null ? List.of() : g.getSpec().getListeners();
      for (int i = 0; i < listeners.size(); i++) {
        Listener l = listeners.get(i);
        if (l.getPort() == null || l.getPort() < 1 || l.getPort() > 65535) {
          throw new InvalidField(
              "spec.listeners[" + i + "].port", l.getPort() + " (expected 1..65535)");
        }
        hbone |= "HBONE".equals(l.getProtocol()) && l.getPort() == 15008;
      }
      if (!hbone) {
        throw new InvalidField(
            "spec.listeners",
            "no HBONE listener on port 15008 (expected {name: mesh, port: 15008, protocol:"
                + " HBONE})");
      }
      waypointGateways.add(g);
    }

    private void acceptEnvoyFilter(HasMetadata o) throws InvalidField {
      com.fasterxml.jackson.databind.JsonNode tree =
          MeshYaml.SERIALIZATION.convertValue(o, com.fasterxml.jackson.databind.JsonNode.class);
      rateLimits.add(EnvoyFilters.localRateLimit(nameOf(o), namespaceOf(o), tree.path("spec")));
    }

    private Node toNode(io.fabric8.kubernetes.api.model.Node n) throws InvalidField {
      List<InetAddress> addresses = new ArrayList<>();
      List<NodeAddress> list =
          n.getStatus() == null || n.getStatus().getAddresses() == null
              ? List.of()
              : n.getStatus().getAddresses();
      for (int i = 0; i < list.size(); i++) {
        NodeAddress a = list.get(i);
        if ("InternalIP".equals(a.getType())) {
          addresses.add(Validation.ip("status.addresses[" + i + "].address", a.getAddress()));
        }
      }
      return new Node(n.getMetadata().getName(), addresses);
    }

    private List<Waypoint> buildWaypoints() {
      List<Waypoint> out = new ArrayList<>();
      for (Gateway g : waypointGateways) {
        String ns = namespaceOf(g);
        String name = nameOf(g);
        String waypointFor = labelsOf(g).get(LABEL_WAYPOINT_FOR);
        if (waypointFor == null) {
          waypointFor = waypointForByClass.getOrDefault(WAYPOINT_CLASS, "service");
        }
        List<InetAddress> addresses = new ArrayList<>();
        String serviceAccount = null;
        for (Pod p : pods) {
          if (ns.equals(namespaceOf(p)) && name.equals(labelsOf(p).get(LABEL_GATEWAY_NAME))) {
            addresses.addAll(Validation.podAddresses(p));
            if (serviceAccount == null) {
              serviceAccount = serviceAccountOf(p);
            }
          }
        }
        if (addresses.isEmpty() && g.getStatus() != null && g.getStatus().getAddresses() != null) {
          for (GatewayStatusAddress a : g.getStatus().getAddresses()) {
            if (a.getType() == null || a.getType().equals("IPAddress")) {
              try {
                addresses.add(InetAddress.ofLiteral(a.getValue()));
              } catch (IllegalArgumentException e) {
                // a hostname; the waypoint's pods are the addresses that matter
              }
            }
          }
        }
        out.add(
            new Waypoint(
                name,
                ns,
                waypointFor,
                addresses,
                serviceAccount == null ? name : serviceAccount,
                trustDomain));
      }
      return out;
    }

    private static String serviceAccountOf(Pod p) {
      String sa = p.getSpec() == null ? null : p.getSpec().getServiceAccountName();
      if (sa == null || sa.isEmpty()) {
        sa = p.getSpec() == null ? null : p.getSpec().getServiceAccount();
      }
      return sa == null || sa.isEmpty() ? "default" : sa;
    }

    private Workload toWorkload(Pod p, Map<WaypointRef, Waypoint> waypoints) {
      String ns = namespaceOf(p);
      String name = nameOf(p);
      Map<String, String> labels = labelsOf(p);
      String uid = p.getMetadata().getUid();
      if (uid == null || uid.isEmpty()) {
        uid = "Kubernetes//Pod/" + ns + "/" + name;
      }
      boolean enrolled = isEnrolled(p, ns, labels);
      WaypointRef waypoint = null;
      if (!labels.containsKey(LABEL_GATEWAY_NAME)) {
        WaypointRef wanted = bindingOf(labels, ns);
        Waypoint wp = wanted == null ? null : waypoints.get(wanted);
        if (wp != null && wp.servesWorkloads()) {
          waypoint = wanted;
        }
      }
      String app =
          first(labels, "service.istio.io/canonical-name", "app.kubernetes.io/name", "app");
      String version =
          first(
              labels,
              "service.istio.io/canonical-revision",
              "app.kubernetes.io/version",
              "version");
      String node = p.getSpec() == null ? null : p.getSpec().getNodeName();
      return new Workload(
          uid,
          name,
          ns,
          serviceAccountOf(p),
          trustDomain,
          node,
          Validation.podAddresses(p),
          labels,
          enrolled,
          enrolled ? TunnelProtocol.HBONE : TunnelProtocol.NONE,
          waypoint,
          isHealthy(p),
          workloadNameOf(p),
          app,
          version,
          ambientjAnnotations(p));
    }

    /** The pod's {@code ambientj.dev/} annotations (per-workload settings of the data path). */
    private static Map<String, String> ambientjAnnotations(Pod p) {
      Map<String, String> all = p.getMetadata().getAnnotations();
      if (all == null || all.isEmpty()) {
        return Map.of();
      }
      Map<String, String> kept = new java.util.TreeMap<>();
      all.forEach((k, v) -> {
        if (k.startsWith(Workload.ANNOTATION_PREFIX) && v != null) {
          kept.put(k, v);
        }
      });
      return kept;
    }

    private boolean isEnrolled(Pod p, String ns, Map<String, String> labels) {
      if (p.getSpec() != null && Boolean.TRUE.equals(p.getSpec().getHostNetwork())) {
        return false;
      }
      Map<String, String> annotations = p.getMetadata().getAnnotations();
      if (annotations != null && annotations.containsKey(ANNOTATION_SIDECAR_STATUS)) {
        return false;
      }
      if ("ztunnel".equals(labels.get("app")) && "istio-system".equals(ns)) {
        return false;
      }
      String podMode = labels.get(LABEL_DATAPLANE_MODE);
      if ("ambient".equals(podMode)) {
        return true;
      }
      if ("none".equals(podMode)) {
        return false;
      }
      return "ambient".equals(namespaceLabels.getOrDefault(ns, Map.of()).get(LABEL_DATAPLANE_MODE));
    }

    /**
     * The waypoint an object asks for: its own use-waypoint label if present (none → null), else
     * its namespace's.
     */
    private WaypointRef bindingOf(Map<String, String> labels, String ns) {
      WaypointRef own = refFrom(labels, ns);
      if (labels.containsKey(LABEL_USE_WAYPOINT)) {
        return own;
      }
      return refFrom(namespaceLabels.getOrDefault(ns, Map.of()), ns);
    }

    private static WaypointRef refFrom(Map<String, String> labels, String ns) {
      String name = labels.get(LABEL_USE_WAYPOINT);
      if (name == null || name.isEmpty() || name.equals("none")) {
        return null;
      }
      String wpNs = labels.getOrDefault(LABEL_USE_WAYPOINT_NAMESPACE, ns);
      return new WaypointRef(wpNs.isEmpty() ? ns : wpNs, name);
    }

    private static boolean isHealthy(Pod p) {
      if (p.getMetadata().getDeletionTimestamp() != null) {
        return false;
      }
      if (p.getStatus() == null) {
        return true;
      }
      String phase = p.getStatus().getPhase();
      if (phase != null && !phase.equals("Running")) {
        return false;
      }
      if (p.getStatus().getConditions() != null) {
        for (PodCondition c : p.getStatus().getConditions()) {
          if ("Ready".equals(c.getType()) && "False".equals(c.getStatus())) {
            return false;
          }
        }
      }
      return true;
    }

    /**
     * The owner's name: a ReplicaSet's Deployment (without the pod-template hash), else the owner,
     * else the pod.
     */
    private static String workloadNameOf(Pod p) {
      List<OwnerReference> owners = p.getMetadata().getOwnerReferences();
      if (owners == null || owners.isEmpty()) {
        return p.getMetadata().getName();
      }
      OwnerReference owner =
          owners.stream()
              .filter(o -> Boolean.TRUE.equals(o.getController()))
              .findFirst()
              .orElse(owners.get(0));
      String name = owner.getName();
      if ("ReplicaSet".equals(owner.getKind()) && name.lastIndexOf('-') > 0) {
        return name.substring(0, name.lastIndexOf('-'));
      }
      return name;
    }

    private static String first(Map<String, String> labels, String... keys) {
      for (String k : keys) {
        String v = labels.get(k);
        if (v != null && !v.isEmpty()) {
          return v;
        }
      }
      return null;
    }

    private Service toService(
        io.fabric8.kubernetes.api.model.Service s,
        List<PodWorkload> podsOfNamespace,
        Map<WaypointRef, Waypoint> waypoints) {
      String ns = namespaceOf(s);
      String name = nameOf(s);
      List<InetAddress> vips = Validation.serviceVips(s);
      List<ServicePort> ports = new ArrayList<>();
      Map<Integer, String> namedTargets = new LinkedHashMap<>();
      for (io.fabric8.kubernetes.api.model.ServicePort p : Validation.tcpPorts(s)) {
        IntOrString target = p.getTargetPort();
        int numeric;
        if (target == null) {
          numeric = p.getPort();
        } else if (target.getIntVal() != null) {
          numeric = target.getIntVal();
        } else {
          numeric = 0;
          namedTargets.put(p.getPort(), target.getStrVal());
        }
        ports.add(new ServicePort(p.getName(), p.getPort(), numeric, p.getAppProtocol()));
      }
      List<Endpoint> endpoints = new ArrayList<>();
      Map<String, String> selector = s.getSpec().getSelector();
      if (selector != null && !selector.isEmpty()) {
        for (PodWorkload e : podsOfNamespace) {
          Workload w = e.workload();
          if (w.addresses().isEmpty() || !w.labels().entrySet().containsAll(selector.entrySet())) {
            continue;
          }
          Map<Integer, Integer> resolved = resolveNamedPorts(e.pod(), namedTargets);
          if (resolved != null) {
            endpoints.add(new Endpoint(w.uid(), resolved));
          }
        }
      }
      WaypointRef waypoint = null;
      if (!labelsOf(s).containsKey(LABEL_GATEWAY_NAME)) {
        WaypointRef wanted = bindingOf(labelsOf(s), ns);
        Waypoint wp = wanted == null ? null : waypoints.get(wanted);
        if (wp != null && wp.servesServices()) {
          waypoint = wanted;
        }
      }
      return new Service(
          name,
          ns,
          name + "." + ns + ".svc." + MeshSnapshot.CLUSTER_DOMAIN,
          vips,
          ports,
          endpoints,
          waypoint);
    }

    /**
     * servicePort → containerPort for each named target; null if the pod lacks one of the names.
     */
    private static Map<Integer, Integer> resolveNamedPorts(
        Pod p, Map<Integer, String> namedTargets) {
      Map<Integer, Integer> out = new HashMap<>();
      for (Map.Entry<Integer, String> t : namedTargets.entrySet()) {
        Integer found = null;
        List<Container> containers =
            p.getSpec() == null || p.getSpec().getContainers() == null
                ? List.of()
                : p.getSpec().getContainers();
        for (Container c : containers) {
          for (ContainerPort cp : c.getPorts() == null ? List.<ContainerPort>of() : c.getPorts()) {
            if (t.getValue().equals(cp.getName()) && cp.getContainerPort() != null) {
              found = cp.getContainerPort();
            }
          }
        }
        if (found == null) {
          return null;
        }
        out.put(t.getKey(), found);
      }
      return out;
    }
  }
}
