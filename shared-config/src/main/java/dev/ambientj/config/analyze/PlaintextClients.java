package dev.ambientj.config.analyze;

import static dev.ambientj.config.analyze.Refs.nsOf;
import static dev.ambientj.config.analyze.Refs.ref;

import dev.ambientj.config.analyze.Finding.Level;
import dev.ambientj.config.authz.CidrBlock;
import dev.ambientj.config.authz.MtlsMode;
import dev.ambientj.config.authz.PeerAuthentications;
import dev.ambientj.config.model.Endpoint;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.config.model.Workload;
import io.fabric8.istio.api.api.security.v1beta1.Rule;
import io.fabric8.istio.api.api.security.v1beta1.RuleFrom;
import io.fabric8.istio.api.api.security.v1beta1.RuleTo;
import io.fabric8.istio.api.api.security.v1beta1.Source;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * AMB0112: STRICT mTLS on a port that a client outside the mesh is meant to use.
 *
 * <p>What the files can show of "a client uses this port" is an AuthorizationPolicy rule that
 * lets a client in: its {@code from.source} names the address ({@code ipBlocks}), the namespace or
 * the identity ({@code principals}) of a workload that is not enrolled (its namespace is not
 * labelled ambient, or it opted out), and its {@code to.operation.ports} (or, without ports, the
 * destination's service ports) are ports where the PeerAuthentication in force is STRICT. Such a
 * client speaks plaintext, which ztunnel refuses on a STRICT port before any policy is evaluated:
 * the rule can never let it in. Traffic the files do not describe (a client outside the cluster, a
 * probe) cannot be told and is not guessed at.
 */
final class PlaintextClients {
  private final MeshSnapshot snapshot;
  private final PeerAuthentications peerAuthentications;
  private final Consumer<Finding> out;

  private PlaintextClients(MeshSnapshot snapshot, Consumer<Finding> out) {
    this.snapshot = snapshot;
    this.peerAuthentications =
        PeerAuthentications.compile(snapshot.policies().peerAuthentications());
    this.out = out;
  }

  static void check(MeshSnapshot snapshot, Consumer<Finding> out) {
    PlaintextClients c = new PlaintextClients(snapshot, out);
    for (AuthorizationPolicy ap : snapshot.policies().authorizationPolicies()) {
      c.policy(ap);
    }
  }

  /** A workload outside the mesh that a rule names, and how it named it. */
  private record Client(Workload workload, String how) {}

  private void policy(AuthorizationPolicy ap) {
    var spec = ap.getSpec();
    if (spec == null || spec.getRules() == null) {
      return;
    }
    List<Workload> destinations = destinations(ap);
    if (destinations.isEmpty()) {
      return;
    }
    List<Rule> rules = spec.getRules();
    for (int i = 0; i < rules.size(); i++) {
      Rule r = rules.get(i);
      List<RuleFrom> from = r.getFrom() == null ? List.of() : r.getFrom();
      for (int j = 0; j < from.size(); j++) {
        Source s = from.get(j).getSource();
        if (s == null) {
          continue;
        }
        String field = "spec.rules[" + i + "].from[" + j + "].source";
        List<Client> clients = clients(s);
        if (clients.isEmpty()) {
          continue;
        }
        strictPort(destinations, ports(r)).ifPresent(strict -> {
          Client c = clients.getFirst();
          Workload w = c.workload();
          out.accept(new Finding(Level.WARNING, "AMB0112", ref(ap), field + "." + c.how(),
              "lets in " + w.namespace() + "/" + w.name() + " ("
                  + w.addresses().stream().map(InetAddress::getHostAddress).toList()
                  + "), which is not in the mesh and so connects in plaintext, but "
                  + strict
                  + ": ztunnel refuses that connection before this policy is evaluated (expected:"
                  + " enroll namespace " + w.namespace() + " (istio.io/dataplane-mode: ambient),"
                  + " or a PeerAuthentication with PERMISSIVE for that port)"));
        });
      }
    }
  }

  /** The enrolled workloads the policy guards: its target Services' endpoints, or selected. */
  private List<Workload> destinations(AuthorizationPolicy ap) {
    var spec = ap.getSpec();
    String ns = nsOf(ap);
    List<Workload> out = new ArrayList<>();
    List<io.fabric8.istio.api.api.type.v1beta1.PolicyTargetReference> targets = new ArrayList<>();
    if (spec.getTargetRef() != null) {
      targets.add(spec.getTargetRef());
    }
    if (spec.getTargetRefs() != null) {
      targets.addAll(spec.getTargetRefs());
    }
    if (!targets.isEmpty()) {
      for (var t : targets) {
        String tns = t.getNamespace() == null || t.getNamespace().isEmpty() ? ns : t.getNamespace();
        if ("Service".equals(t.getKind())) {
          snapshot.findServiceByHostname(t.getName() + "." + tns, tns).ifPresent(svc -> {
            for (Endpoint e : svc.endpoints()) {
              snapshot.findWorkloadByUid(e.workloadUid()).filter(Workload::enrolled)
                  .ifPresent(out::add);
            }
          });
        }
      }
      return out;
    }
    Map<String, String> selector = spec.getSelector() == null
        || spec.getSelector().getMatchLabels() == null ? Map.of()
        : spec.getSelector().getMatchLabels();
    boolean root = ns.equals(MeshAnalyzer.ROOT_NAMESPACE);
    for (Workload w : snapshot.workloads()) {
      if (w.enrolled() && (root || w.namespace().equals(ns))
          && w.labels().entrySet().containsAll(selector.entrySet())) {
        out.add(w);
      }
    }
    return out;
  }

  /** The workloads outside the mesh that a source names. */
  private List<Client> clients(Source s) {
    List<Client> out = new ArrayList<>();
    for (Workload w : snapshot.workloads()) {
      if (w.enrolled()) {
        continue;
      }
      if (s.getIpBlocks() != null && s.getIpBlocks().stream().anyMatch(b -> covers(b, w))) {
        out.add(new Client(w, "ipBlocks"));
      } else if (s.getNamespaces() != null && s.getNamespaces().contains(w.namespace())
          && noneEnrolled(w.namespace(), null)) {
        out.add(new Client(w, "namespaces"));
      } else if (s.getPrincipals() != null
          && s.getPrincipals().contains(w.trustDomain() + "/ns/" + w.namespace() + "/sa/"
              + w.serviceAccount())
          && noneEnrolled(w.namespace(), w.serviceAccount())) {
        out.add(new Client(w, "principals"));
      }
    }
    return out;
  }

  /** No enrolled workload has this namespace (and service account, when given). */
  private boolean noneEnrolled(String namespace, String serviceAccount) {
    return snapshot.workloads().stream().noneMatch(w -> w.enrolled()
        && w.namespace().equals(namespace)
        && (serviceAccount == null || w.serviceAccount().equals(serviceAccount)));
  }

  private static boolean covers(String block, Workload w) {
    try {
      CidrBlock b = CidrBlock.parse(block);
      return w.addresses().stream().anyMatch(b::contains);
    } catch (IllegalArgumentException e) {
      return false; // validation reports it
    }
  }

  /** The rule's {@code to.operation.ports}; empty when it names none (any port). */
  private static Set<Integer> ports(Rule r) {
    Set<Integer> out = new LinkedHashSet<>();
    for (RuleTo t : r.getTo() == null ? List.<RuleTo>of() : r.getTo()) {
      if (t.getOperation() != null && t.getOperation().getPorts() != null) {
        for (String p : t.getOperation().getPorts()) {
          try {
            out.add(Integer.parseInt(p.trim()));
          } catch (NumberFormatException e) {
            // validation reports it
          }
        }
      }
    }
    return out;
  }

  /**
   * The first destination and port where mTLS is STRICT, as a phrase naming the policy that made
   * it so; the ports are the rule's, else each destination's service target ports.
   */
  private java.util.Optional<String> strictPort(List<Workload> destinations, Set<Integer> ports) {
    for (Workload w : destinations) {
      Set<Integer> candidates = ports.isEmpty() ? targetPorts(w) : ports;
      for (int p : candidates) {
        var d = peerAuthentications.decide(w.namespace(), w.labels(), p);
        if (d.mode() == MtlsMode.STRICT) {
          return java.util.Optional.of("PeerAuthentication " + d.policy()
              + " sets mTLS STRICT for " + w.namespace() + "/" + w.name()
              + (p == 0 ? "" : " port " + p));
        }
      }
    }
    return java.util.Optional.empty();
  }

  private Set<Integer> targetPorts(Workload w) {
    Set<Integer> out = new LinkedHashSet<>();
    for (Service s : snapshot.findServicesOfWorkload(w.uid())) {
      for (Endpoint e : s.endpoints()) {
        if (e.workloadUid().equals(w.uid())) {
          for (ServicePort p : s.ports()) {
            out.add(e.targetPortFor(p));
          }
        }
      }
    }
    if (out.isEmpty()) {
      out.add(0); // no Service: the workload-wide mode
    }
    return out;
  }
}
