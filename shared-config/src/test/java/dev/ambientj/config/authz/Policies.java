package dev.ambientj.config.authz;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import java.util.List;

/** Policies from YAML, through the real parser and translator. */
final class Policies {
  private Policies() {}

  static MeshSnapshot snapshot(String yaml) {
    MeshYaml.Result parsed = MeshYaml.load(yaml, "test");
    assertThat(parsed.errors()).isEmpty();
    MeshSnapshot s = new MeshTranslator().translate(parsed.objects());
    assertThat(s.rejections()).isEmpty();
    return s;
  }

  static List<AuthorizationPolicy> authz(String yaml) {
    return snapshot(yaml).policies().authorizationPolicies();
  }

  static List<PeerAuthentication> peerAuthn(String yaml) {
    return snapshot(yaml).policies().peerAuthentications();
  }

  /** An AuthorizationPolicy with {@code spec} (YAML, indented two spaces under spec). */
  static String ap(String ns, String name, String spec) {
    return """
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: %s
          namespace: %s
        spec:
        %s
        """.formatted(name, ns, spec.indent(2).stripTrailing());
  }

  static String pa(String ns, String name, String spec) {
    return """
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: %s
          namespace: %s
        spec:
        %s
        """.formatted(name, ns, spec.indent(2).stripTrailing());
  }
}
