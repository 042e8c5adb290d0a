package dev.ambientj.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The example mesh ({@code examples/mesh.yaml}) moved to a test class's own 127.x range, plus
 * extra objects a test needs. Addresses: nodes {@code P.100.1/2}, node-a pods {@code P.1.x},
 * node-b pods {@code P.2.x}, service VIPs {@code P.10.x}, where P is the prefix (e.g. 127.21).
 */
final class TestMeshes {
  private TestMeshes() {}

  static String example(String prefix) {
    return relocate(read("examples/mesh.yaml"), prefix);
  }

  /** A file of {@code examples/} as written, e.g. {@code payment-policies.yaml}. */
  static String exampleFile(String name) {
    return read("examples/" + name);
  }

  static String relocate(String yaml, String prefix) {
    return yaml.replace("127.0.100.", prefix + ".100.")
        .replace("127.0.1.", prefix + ".1.")
        .replace("127.0.2.", prefix + ".2.")
        .replace("127.10.0.", prefix + ".10.");
  }

  /**
   * An AuthorizationPolicy the translator must refuse (selector and targetRefs together); applied
   * either way, it would deny production's requests to payment.
   */
  static String invalidPolicy(String name) {
    return """
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: %s
          namespace: production
        spec:
          selector:
            matchLabels: {app: payment-service}
          targetRefs:
          - kind: Service
            group: ""
            name: payment-service
          action: DENY
          rules:
          - from:
            - source:
                namespaces: ["production"]
        """.formatted(name);
  }

  /** An enrolled pod (namespace production) with a Service in front of it. */
  static String podWithService(String name, String app, String node, String ip, int port,
      String vip, int servicePort) {
    return pod(name, app, node, ip, port) + """
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: %s
          namespace: production
        spec:
          clusterIP: %s
          selector:
            app: %s
          ports:
          - name: tcp
            port: %d
            targetPort: %d
        """.formatted(app, vip, app, servicePort, port);
  }

  static String pod(String name, String app, String node, String ip, int port) {
    return pod(name, app, node, ip, port, java.util.Map.of());
  }

  /** An enrolled pod (namespace production) with {@code annotations} on it. */
  static String pod(String name, String app, String node, String ip, int port,
      java.util.Map<String, String> annotations) {
    StringBuilder a = new StringBuilder();
    annotations.forEach((k, v) -> a.append("\n    ").append(k).append(": \"").append(v).append('"'));
    return """
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: %s
          namespace: production
          labels:
            app: %s
            version: v1
          annotations:
            example.com/owner: team-a%s
        spec:
          nodeName: %s
          serviceAccountName: %s
          containers:
          - name: app
            image: example/app:1.0
            ports:
            - containerPort: %d
        status:
          phase: Running
          podIP: %s
        """.formatted(name, app, a, node, app, port, ip);
  }

  private static String read(String relative) {
    Path here = Path.of("").toAbsolutePath();
    for (Path dir = here; dir != null; dir = dir.getParent()) {
      Path candidate = dir.resolve(relative);
      if (Files.isRegularFile(candidate)) {
        try {
          return Files.readString(candidate);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
    }
    throw new IllegalStateException(relative + " not found above " + here);
  }
}
